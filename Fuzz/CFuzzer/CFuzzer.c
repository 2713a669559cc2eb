#include "CFuzzer.h"

static cfuzzer_callback registered;

void cfuzzer_set_callback(cfuzzer_callback callback) { registered = callback; }

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    return registered ? registered(data, size) : 0;
}
