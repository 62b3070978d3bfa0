/* Preloaded into the CUDA compiler's processes by the launcher that ollama-build-tools writes
 * (build_tools/toolkit/pathmap.py). nvcc hands cudafe++ and cicc the absolute path of the
 * source file (--orig_src_path_name), and both hash it into the names of internal-linkage
 * symbols (_GLOBAL__N__<hash>_..., _INTERNAL_<hash>_...), which end up in the device code.
 * This constructor rewrites that one argument with the prefix map in
 * BUILD_TOOLS_NVCC_PATH_MAP ("old=new" pairs joined by ':', longest first), so the same
 * source gives the same device code wherever the work directory is. Every other process
 * (nvcc, gcc, ptxas, ccache ...) sees no such argument and is left alone.
 *
 * glibc passes (argc, argv, envp) to ELF constructors; argv is the array main() receives. */
#include <stdlib.h>
#include <string.h>

static const char OPTION[] = "--orig_src_path_name";
static const char MAP_VARIABLE[] = "BUILD_TOOLS_NVCC_PATH_MAP";

/* The mapped path, or NULL where no entry of the map is a whole-component prefix of it. */
static char *mapped(const char *path, const char *map) {
    const char *entry = map;
    while (*entry != '\0') {
        const char *end = strchr(entry, ':');
        size_t length = end != NULL ? (size_t)(end - entry) : strlen(entry);
        const char *equals = memchr(entry, '=', length);
        if (equals != NULL) {
            size_t old_length = (size_t)(equals - entry);
            size_t new_length = length - old_length - 1;
            const char *rest = path + old_length;
            if (old_length > 0 && strncmp(path, entry, old_length) == 0 &&
                (*rest == '/' || *rest == '\0')) {
                char *result = malloc(new_length + strlen(rest) + 1);
                if (result == NULL) return NULL;
                memcpy(result, equals + 1, new_length);
                strcpy(result + new_length, rest);
                return result;
            }
        }
        if (end == NULL) break;
        entry = end + 1;
    }
    return NULL;
}

__attribute__((constructor)) static void build_tools_pathmap(int argc, char **argv, char **envp) {
    (void)envp;
    const char *map = getenv(MAP_VARIABLE);
    if (map == NULL || argv == NULL) return;
    for (int i = 1; i + 1 < argc; i++) {
        if (strcmp(argv[i], OPTION) != 0) continue;
        char *path = mapped(argv[i + 1], map);
        if (path != NULL) argv[i + 1] = path;
    }
}
