// libFuzzer's entry point for programs with a main of their own
// (SwiftPM renames an executable's main, so libFuzzer's cannot be used).
#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerRunDriver(int *argc, char ***argv, int (*callback)(const uint8_t *data, size_t size));
