#pragma once
// Guards for the files a command writes. A mistyped option must not destroy anything:
// `eval --report m.safetensors` replaced the model it had just read with HTML, and a fresh
// `train` over an existing model and checkpoint silently replaced a 36-epoch run.
#include <filesystem>
#include <string>
#include <vector>

namespace sigver {

namespace fs = std::filesystem;

enum class OutputKind { html, json };

// Throws twin::io_error naming `option` and the path unless `out` may be written: its folder
// exists, it is not a folder, it is none of `inputs` (compared as files, so another spelling
// or a link is caught too), and if it exists it already is a file of that kind (an HTML page
// for a report, parseable JSON for metrics).
void check_output(const fs::path& out, OutputKind kind, const std::vector<fs::path>& inputs, const std::string& option);

// For files train writes (model, checkpoint): the folder exists and is writable, checked
// before any work is done.
void check_output_folder(const fs::path& out, const std::string& option);

// Writes `text` to `path` atomically (temporary file, fsync, rename).
void write_text_atomic(const fs::path& path, const std::string& text);

}  // namespace sigver
