// libFuzzer's entry point for programs with a main of their own: SwiftPM
// renames an executable's main (and points `main` at it), so a fuzz target's
// main.swift registers its callback and calls LLVMFuzzerRunDriver.
#include <stddef.h>
#include <stdint.h>

typedef int (*cfuzzer_callback)(const uint8_t *data, size_t size);

int LLVMFuzzerRunDriver(int *argc, char ***argv, cfuzzer_callback callback);

/// What LLVMFuzzerTestOneInput (which libFuzzer's archive references) forwards to.
void cfuzzer_set_callback(cfuzzer_callback callback);
