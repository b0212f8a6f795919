// Python bindings and argument checks of the FlowNet2 operators (kernels in flow_ops_kernel.cu).
//
// Every function takes contiguous CUDA tensors of one floating dtype (float32 or float64); the Python side
// (models/networks/flow/cuda_ops.py) casts other dtypes and wraps forward/backward in autograd Functions.

#include <torch/extension.h>

#include <vector>

torch::Tensor correlation_forward_cuda(const torch::Tensor& f1, const torch::Tensor& f2, int64_t pad, int64_t kernel,
                                       int64_t max_disp, int64_t stride1, int64_t stride2);
std::vector<torch::Tensor> correlation_backward_cuda(const torch::Tensor& grad_out, const torch::Tensor& f1,
                                                     const torch::Tensor& f2, int64_t pad, int64_t kernel,
                                                     int64_t max_disp, int64_t stride1, int64_t stride2);
torch::Tensor resample2d_forward_cuda(const torch::Tensor& image, const torch::Tensor& flow);
std::vector<torch::Tensor> resample2d_backward_cuda(const torch::Tensor& grad_out, const torch::Tensor& image,
                                                    const torch::Tensor& flow);
torch::Tensor channel_norm_forward_cuda(const torch::Tensor& input);
torch::Tensor channel_norm_backward_cuda(const torch::Tensor& grad_out, const torch::Tensor& input,
                                         const torch::Tensor& output);

namespace {

void check_input(const torch::Tensor& t, const char* name) {
  TORCH_CHECK(t.is_cuda(), name, " must be a CUDA tensor");
  TORCH_CHECK(t.is_contiguous(), name, " must be contiguous");
  TORCH_CHECK(t.dim() == 4, name, " must be 4-D (B, C, H, W), got ", t.dim(), " dimensions");
  TORCH_CHECK(t.scalar_type() == at::kFloat || t.scalar_type() == at::kDouble, name,
              " must be float32 or float64, got ", t.scalar_type());
}

void check_same(const torch::Tensor& a, const torch::Tensor& b, const char* what) {
  TORCH_CHECK(a.scalar_type() == b.scalar_type(), what, ": dtypes differ");
  TORCH_CHECK(a.get_device() == b.get_device(), what, ": tensors are on different devices");
}

void check_correlation_args(const torch::Tensor& f1, const torch::Tensor& f2, int64_t kernel, int64_t max_disp,
                            int64_t stride1, int64_t stride2) {
  check_input(f1, "input1");
  check_input(f2, "input2");
  check_same(f1, f2, "correlation");
  TORCH_CHECK(f1.sizes() == f2.sizes(), "correlation: input shapes differ");
  TORCH_CHECK(kernel >= 1 && kernel % 2 == 1, "correlation: kernel_size must be odd and positive");
  TORCH_CHECK(stride1 >= 1 && stride2 >= 1, "correlation: strides must be positive");
  TORCH_CHECK(max_disp >= 0, "correlation: max_displacement must be non-negative");
}

torch::Tensor correlation_forward(const torch::Tensor& f1, const torch::Tensor& f2, int64_t pad, int64_t kernel,
                                  int64_t max_disp, int64_t stride1, int64_t stride2) {
  check_correlation_args(f1, f2, kernel, max_disp, stride1, stride2);
  return correlation_forward_cuda(f1, f2, pad, kernel, max_disp, stride1, stride2);
}

std::vector<torch::Tensor> correlation_backward(const torch::Tensor& grad_out, const torch::Tensor& f1,
                                                const torch::Tensor& f2, int64_t pad, int64_t kernel,
                                                int64_t max_disp, int64_t stride1, int64_t stride2) {
  check_correlation_args(f1, f2, kernel, max_disp, stride1, stride2);
  check_input(grad_out, "grad_output");
  check_same(grad_out, f1, "correlation backward");
  return correlation_backward_cuda(grad_out, f1, f2, pad, kernel, max_disp, stride1, stride2);
}

void check_resample_args(const torch::Tensor& image, const torch::Tensor& flow) {
  check_input(image, "image");
  check_input(flow, "flow");
  check_same(image, flow, "resample2d");
  TORCH_CHECK(flow.size(1) == 2, "resample2d: flow must have 2 channels, got ", flow.size(1));
  TORCH_CHECK(image.size(0) == flow.size(0) && image.size(2) == flow.size(2) && image.size(3) == flow.size(3),
              "resample2d: image and flow must share batch, height and width");
}

torch::Tensor resample2d_forward(const torch::Tensor& image, const torch::Tensor& flow) {
  check_resample_args(image, flow);
  return resample2d_forward_cuda(image, flow);
}

std::vector<torch::Tensor> resample2d_backward(const torch::Tensor& grad_out, const torch::Tensor& image,
                                               const torch::Tensor& flow) {
  check_resample_args(image, flow);
  check_input(grad_out, "grad_output");
  TORCH_CHECK(grad_out.sizes() == image.sizes(), "resample2d backward: grad_output shape differs from image");
  return resample2d_backward_cuda(grad_out, image, flow);
}

torch::Tensor channel_norm_forward(const torch::Tensor& input) {
  check_input(input, "input");
  return channel_norm_forward_cuda(input);
}

torch::Tensor channel_norm_backward(const torch::Tensor& grad_out, const torch::Tensor& input,
                                    const torch::Tensor& output) {
  check_input(input, "input");
  check_input(grad_out, "grad_output");
  check_input(output, "output");
  return channel_norm_backward_cuda(grad_out, input, output);
}

}  // namespace

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.def("correlation_forward", &correlation_forward, "FlowNet correlation, forward (CUDA)");
  m.def("correlation_backward", &correlation_backward, "FlowNet correlation, gradients of both inputs (CUDA)");
  m.def("resample2d_forward", &resample2d_forward, "bilinear backward warp with border clamping (CUDA)");
  m.def("resample2d_backward", &resample2d_backward, "gradients of image and flow of resample2d (CUDA)");
  m.def("channel_norm_forward", &channel_norm_forward, "L2 norm over channels (CUDA)");
  m.def("channel_norm_backward", &channel_norm_backward, "gradient of the channel L2 norm (CUDA)");
}
