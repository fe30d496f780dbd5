// Compiles the shared precompiled header. main.cpp must skip the PCH (it defines doctest's
// implementation), and CMake builds a target's PCH only through a source that uses it, so
// without this file twin_test_main has no PCH for the tests to REUSE_FROM.
