"""The GPUs a build is for: detected on this machine (NVML, else nvidia-smi) or read from an
inventory file captured on the target box."""
