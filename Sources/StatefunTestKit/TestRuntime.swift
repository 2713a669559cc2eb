// The in-process runtime for tests (work in progress).
