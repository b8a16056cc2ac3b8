"""CUDA kernels written with numba.cuda, one module per family; wrappers take and return device arrays."""
