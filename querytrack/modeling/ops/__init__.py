"""Optional kernels that compute what a torchvision op computes, another way (opt-in, each with an equivalence test)."""
