// A project's own stb_image implementation (external linkage), as a program that already
// uses stb_image would have it. twin's static copies must not clash with it.
#define STB_IMAGE_IMPLEMENTATION
#define STBI_ONLY_PNG
#define STBI_NO_STDIO
#include <stb/stb_image.h>
