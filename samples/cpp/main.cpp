// nibble_sample_cpp: runs a .nib model once from C++17, through a small RAII wrapper over nibble.h.
//
//   nibble_sample_cpp MODEL.nib [INPUT.raw]
//
// Same flow as samples/c/main.c, but the session allocates its own arena (NULL options) and every failure is a
// nibble::Error exception carrying the status and the detail text.
#include <nibble.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <iterator>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

namespace nibble {

// A failed call: the status, its name and nibble_last_error() at the time of the failure.
class Error : public std::runtime_error {
 public:
  Error(nibble_status status, const std::string& call)
      : std::runtime_error(call + ": " + nibble_status_string(status) + "\n  " + nibble_last_error()),
        status_(status) {}
  nibble_status status() const noexcept { return status_; }

 private:
  nibble_status status_;
};

inline void check(nibble_status status, const char* call) {
  if (status != NIBBLE_OK) throw Error(status, call);
}

struct ModelDeleter {
  void operator()(nibble_model* m) const noexcept { nibble_model_free(m); }
};
struct SessionDeleter {
  void operator()(nibble_session* s) const noexcept { nibble_session_free(s); }
};

class Model {
 public:
  static Model load(const std::string& path) {
    nibble_model* raw = nullptr;
    check(nibble_model_load_file(path.c_str(), &raw), "nibble_model_load_file");
    return Model(raw);
  }

  // The bytes must outlive the model: the caller keeps `bytes` alive (here: the Model holds them).
  static Model load(std::vector<unsigned char> bytes) {
    auto owned = std::make_shared<std::vector<unsigned char>>(std::move(bytes));
    nibble_model* raw = nullptr;
    check(nibble_model_load_memory(owned->data(), owned->size(), &raw), "nibble_model_load_memory");
    Model m(raw);
    m.bytes_ = std::move(owned);
    return m;
  }

  const nibble_model* get() const noexcept { return model_.get(); }
  size_t input_count() const noexcept { return nibble_model_input_count(get()); }
  size_t output_count() const noexcept { return nibble_model_output_count(get()); }
  size_t layer_count() const noexcept { return nibble_model_layer_count(get()); }

  nibble_tensor_info input(size_t i) const {
    nibble_tensor_info info{};
    check(nibble_model_input_info(get(), i, &info), "nibble_model_input_info");
    return info;
  }
  nibble_tensor_info output(size_t i) const {
    nibble_tensor_info info{};
    check(nibble_model_output_info(get(), i, &info), "nibble_model_output_info");
    return info;
  }
  size_t arena_size() const {
    size_t bytes = 0;
    check(nibble_model_arena_size(get(), &bytes), "nibble_model_arena_size");
    return bytes;
  }

 private:
  explicit Model(nibble_model* m) : model_(m) {}
  // Declared before model_ so the model is freed first, then its bytes.
  std::shared_ptr<std::vector<unsigned char>> bytes_;
  std::unique_ptr<nibble_model, ModelDeleter> model_;
};

class Session {
 public:
  // The model must outlive the session. NULL options: defaults, Nibble allocates the arena.
  explicit Session(const Model& model) {
    nibble_session* raw = nullptr;
    check(nibble_session_create(model.get(), nullptr, &raw), "nibble_session_create");
    session_.reset(raw);
  }

  template <typename T>
  void set_input(size_t index, const std::vector<T>& values) {
    check(nibble_session_set_input(get(), index, values.data(), values.size() * sizeof(T)), "nibble_session_set_input");
  }
  void run() { check(nibble_session_run(get()), "nibble_session_run"); }
  template <typename T>
  std::vector<T> output(size_t index, size_t byte_size) {
    std::vector<T> values(byte_size / sizeof(T));
    check(nibble_session_get_output(get(), index, values.data(), values.size() * sizeof(T)), "nibble_session_get_output");
    return values;
  }
  size_t arena_used() const {
    size_t bytes = 0;
    check(nibble_session_arena_used(session_.get(), &bytes), "nibble_session_arena_used");
    return bytes;
  }

 private:
  nibble_session* get() const noexcept { return session_.get(); }
  std::unique_ptr<nibble_session, SessionDeleter> session_;
};

}  // namespace nibble

namespace {

std::vector<unsigned char> read_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) throw std::runtime_error("cannot open '" + path + "'");
  return std::vector<unsigned char>(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
}

const char* dtype_name(nibble_dtype dtype) {
  switch (dtype) {
    case NIBBLE_DTYPE_FLOAT32: return "float32";
    case NIBBLE_DTYPE_INT8: return "int8";
    case NIBBLE_DTYPE_UINT8: return "uint8";
    case NIBBLE_DTYPE_INT32: return "int32";
    case NIBBLE_DTYPE_INT64: return "int64";
  }
  return "unknown";
}

void print_info(const char* kind, size_t index, const nibble_tensor_info& info) {
  std::cout << "  " << kind << ' ' << index << ": '" << info.name << "' " << dtype_name(info.dtype) << " [";
  for (size_t d = 0; d < info.rank; d++) std::cout << (d ? ", " : "") << info.shape[d];
  std::cout << "] (" << info.byte_size << " bytes)\n";
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2 || argc > 3) {
    std::cerr << "usage: " << argv[0] << " MODEL.nib [INPUT.raw]\n";
    return 2;
  }
  try {
    if (nibble_abi_version() != NIBBLE_ABI_VERSION) throw std::runtime_error("library and header ABI versions differ");
    std::cout << "Nibble " << nibble_version_string() << " (ABI " << nibble_abi_version() << ", .nib format "
              << nibble_format_version() << ")\n";

    const nibble::Model model = nibble::Model::load(argv[1]);
    {
      const nibble::Model from_memory = nibble::Model::load(read_file(argv[1]));
      std::cout << argv[1] << ": " << model.layer_count() << " layers (also loaded from memory: "
                << from_memory.layer_count() << " layers)\n";
    }
    for (size_t i = 0; i < model.input_count(); i++) print_info("input", i, model.input(i));
    for (size_t i = 0; i < model.output_count(); i++) print_info("output", i, model.output(i));
    const nibble_tensor_info in = model.input(0), out = model.output(0);
    if (in.dtype != NIBBLE_DTYPE_FLOAT32 || out.dtype != NIBBLE_DTYPE_FLOAT32)
      throw std::runtime_error("this sample handles float32 inputs and outputs only");

    nibble::Session session(model);
    std::cout << "arena: " << session.arena_used() << " bytes (session-owned; model asks " << model.arena_size()
              << ")\n";

    std::vector<float> input(in.byte_size / sizeof(float));
    if (argc == 3) {
      const std::vector<unsigned char> raw = read_file(argv[2]);
      if (raw.size() != in.byte_size)
        throw std::runtime_error(std::string(argv[2]) + " has " + std::to_string(raw.size()) + " bytes, input needs " +
                                 std::to_string(in.byte_size));
      std::copy(raw.begin(), raw.end(), reinterpret_cast<unsigned char*>(input.data()));
    } else {
      for (size_t i = 0; i < input.size(); i++) input[i] = static_cast<float>(static_cast<int>(i % 9) - 4) * 0.25f;
    }
    session.set_input(0, input);
    session.run();
    const std::vector<float> output = session.output<float>(0, out.byte_size);

    const size_t shown = std::min<size_t>(output.size(), 10);
    std::printf("output '%s' (first %zu of %zu):", out.name, shown, output.size());
    for (size_t i = 0; i < shown; i++) std::printf(" %.6g", output[i]);
    const size_t argmax = output.empty() ? 0 : static_cast<size_t>(std::max_element(output.begin(), output.end()) - output.begin());
    std::printf("\nargmax: %zu (%.6g)\n", argmax, output.empty() ? 0.0 : static_cast<double>(output[argmax]));
    return 0;
  } catch (const nibble::Error& e) {
    std::cerr << "error: " << e.what() << "\n";
    return 1;
  } catch (const std::exception& e) {
    std::cerr << "error: " << e.what() << "\n";
    return 1;
  }
}
