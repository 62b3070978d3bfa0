"""Build Ollama with exactly the CUDA architectures the user's GPUs need.

The pipeline: detect -> plan -> source -> patch -> configure/build -> package -> audit.
"""

__version__ = "0.1.0"
