// Extensions a variant uses, and its activation type. Include first: `enable` must precede
// every declaration.
#if SUBGROUPS
enable subgroups;
#endif
#if ENABLE_F16
enable f16;
#endif

// How activations (inputs, outputs, K/V) are stored: f16 halves their traffic. Kernels load
// them with f32(...) and store with act(...): arithmetic and accumulation stay f32.
#if ACT_F16
alias act = f16;
#else
alias act = f32;
#endif
