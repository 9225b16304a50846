// Extensions a variant uses. Include first: `enable` must precede every declaration.
#if SUBGROUPS
enable subgroups;
#endif
