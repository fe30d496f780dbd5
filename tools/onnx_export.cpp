// onnx_export: writes one of twin's towers, with the weights of a twin model file (or
// random weights from --seed), as an ONNX model for another runtime:
//   onnx_export signature_tower --shape 1,155,220 --weights tower.safetensors --output tower.onnx
//   onnx_export resnet18 --shape 3,112,112 --classes 0 --output resnet18.onnx --seed 1
// Towers: signature_tower (1 x H x W), resnet18, resnet34 (3 x S x S), vgg_face (3 x 224 x 224),
// inception_resnet_v1 (3 x 160 x 160), dlib_face_resnet (3 x S x S). The model file must hold the tower's tensors (io::save_model).
#include <CLI/CLI.hpp>

#include <iostream>

#include <twin/io/safetensors.hpp>
#include <twin/models/dlib_resnet.hpp>
#include <twin/models/inception_resnet_v1.hpp>
#include <twin/models/resnet.hpp>
#include <twin/models/signature_tower.hpp>
#include <twin/models/vgg_face.hpp>
#include <twin/onnx/export.hpp>
#include <twin/onnx/npy.hpp>

int main(int argc, char** argv) {
  CLI::App app{"Export a twin tower to ONNX"};
  std::string tower, weights, output;
  std::vector<long> shape;
  long classes = 1000;
  std::uint64_t seed = 1;
  std::string check_in, check_out;
  app.add_option("tower", tower, "signature_tower, resnet18, resnet34, vgg_face, inception_resnet_v1 or dlib_face_resnet")->required();
  app.add_option("--shape", shape, "per-sample input shape C,H,W")->delimiter(',')->required();
  app.add_option("--weights", weights, "a twin model file (.safetensors) with the tower's tensors");
  app.add_option("--output", output, "the .onnx file to write")->required();
  app.add_option("--classes", classes, "resnet: fc outputs (0: the pooled features)");
  app.add_option("--seed", seed, "random weights from this seed when no --weights are given");
  app.add_option("--run", check_in, "also run the tower here (eval mode) on this float32 .npy batch ...");
  app.add_option("--run-output", check_out, "... and write its output to this .npy (to compare with another runtime)");
  CLI11_PARSE(app, argc, argv);
  try {
    if (shape.size() != 3) throw twin::error("onnx_export: --shape needs C,H,W");
    twin::Shape sample{shape[0], shape[1], shape[2]};
    auto build = [&]() -> twin::Graph<float> {
      if (tower == "signature_tower") return twin::models::signature_tower<float>(shape[1], shape[2]);
      if (tower == "resnet18") return twin::models::resnet18<float>({.input = shape[1], .in_channels = shape[0], .classes = classes});
      if (tower == "resnet34") return twin::models::resnet34<float>({.input = shape[1], .in_channels = shape[0], .classes = classes});
      if (tower == "vgg_face") return twin::models::vgg_face<float>();
      if (tower == "inception_resnet_v1") return twin::models::inception_resnet_v1<float>({.input = shape[1]});
      if (tower == "dlib_face_resnet") return twin::models::dlib_face_resnet<float>({.input = shape[1], .in_channels = shape[0]});
      throw twin::error("onnx_export: unknown tower \"" + tower + "\"");
    };
    auto net = build();
    net.init(seed);
    if (!weights.empty()) twin::io::load_model(net, weights);
    twin::onnx::export_model(net, output, sample);
    if (!check_in.empty()) {
      const auto x = twin::onnx::read_npy(check_in);
      auto y = net.forward(x.view(), twin::Mode::eval);
      if (!check_out.empty()) twin::onnx::write_npy(check_out, y);
    }
    std::cout << "onnx_export: " << tower << " " << sample.str() << ", " << net.num_params() << " parameters -> " << output << "\n";
  } catch (const std::exception& e) {
    std::cerr << e.what() << "\n";
    return 1;
  }
  return 0;
}
