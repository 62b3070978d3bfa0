"""From GPUs and requests to a validated CUDA architecture plan, by pure functions.

``archs`` parses and renders arch tokens, ``cuda_support`` knows which CUDA compiles which arch,
``arch_plan`` makes the frozen :class:`~build_tools.planning.arch_plan.ArchPlan`, ``coverage``
says per GPU whether CUDA can run it and whether Ollama will use it.
"""
