// CUDA kernels of the three FlowNet2 operators, written for this project.
//
// Semantics (see models/networks/flow/ops.py for the pure-PyTorch twins):
//   correlation: out[b, (tj+R)*D + (ti+R), oy, ox] =
//       1/(k*k*C) * sum_{j,i in [-kr,kr]} sum_c f1[b,c,ya,xa] * f2[b,c,ya+tj*s2,xa+ti*s2],
//       ya = oy*s1 + md - pad + j, xa = ox*s1 + md - pad + i, zero outside the image, R = md/s2, D = 2R+1.
//   resample2d: bilinear sample of image at (x + flow_x, y + flow_y), corner indices clamped to the image.
//   channel_norm: sqrt(sum_c x^2).
// Forward kernels use one thread per output element; backward kernels gather (no atomics) except the image
// gradient of resample2d, which scatters bilinear weights with atomicAdd.

#include <ATen/AccumulateType.h>
#include <ATen/cuda/Atomic.cuh>
#include <c10/cuda/CUDAStream.h>
#include <c10/cuda/CUDAException.h>
#include <c10/cuda/CUDAGuard.h>
#include <torch/extension.h>

#include <vector>

namespace {

constexpr int kThreads = 256;

inline int blocks_for(int64_t total) {
  const int64_t blocks = (total + kThreads - 1) / kThreads;
  return static_cast<int>(blocks < 65535 ? (blocks > 0 ? blocks : 1) : 65535);
}

#define GRID_STRIDE_LOOP(i, n) \
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < (n); \
       i += static_cast<int64_t>(blockDim.x) * gridDim.x)

struct CorrGeometry {
  int B, C, H, W, out_h, out_w, pad, kr, md, s1, s2, R, D;
};

CorrGeometry corr_geometry(const torch::Tensor& f1, int64_t pad, int64_t kernel, int64_t max_disp, int64_t stride1,
                           int64_t stride2) {
  CorrGeometry g;
  g.B = f1.size(0);
  g.C = f1.size(1);
  g.H = f1.size(2);
  g.W = f1.size(3);
  g.pad = pad;
  g.kr = (kernel - 1) / 2;
  g.md = max_disp;
  g.s1 = stride1;
  g.s2 = stride2;
  g.R = max_disp / stride2;
  g.D = 2 * g.R + 1;
  const int span_h = g.H + 2 * g.pad - 2 * (g.kr + g.md);
  const int span_w = g.W + 2 * g.pad - 2 * (g.kr + g.md);
  TORCH_CHECK(span_h > 0 && span_w > 0, "correlation: input too small for this padding and displacement");
  g.out_h = (span_h + g.s1 - 1) / g.s1;
  g.out_w = (span_w + g.s1 - 1) / g.s1;
  return g;
}

template <typename scalar_t>
__global__ void correlation_forward_kernel(const scalar_t* __restrict__ f1, const scalar_t* __restrict__ f2,
                                           scalar_t* __restrict__ out, CorrGeometry g, int64_t total) {
  using acc_t = at::acc_type<scalar_t, true>;
  const int64_t plane = static_cast<int64_t>(g.H) * g.W;
  GRID_STRIDE_LOOP(idx, total) {
    const int ox = idx % g.out_w;
    int64_t rest = idx / g.out_w;
    const int oy = rest % g.out_h;
    rest /= g.out_h;
    const int tc = rest % (g.D * g.D);
    const int b = rest / (g.D * g.D);
    const int dy = (tc / g.D - g.R) * g.s2;
    const int dx = (tc % g.D - g.R) * g.s2;
    const int cy = oy * g.s1 + g.md - g.pad;
    const int cx = ox * g.s1 + g.md - g.pad;
    acc_t sum = 0;
    for (int j = -g.kr; j <= g.kr; ++j) {
      for (int i = -g.kr; i <= g.kr; ++i) {
        const int ya = cy + j, xa = cx + i, yb = ya + dy, xb = xa + dx;
        if (ya < 0 || ya >= g.H || xa < 0 || xa >= g.W || yb < 0 || yb >= g.H || xb < 0 || xb >= g.W) continue;
        const scalar_t* p1 = f1 + static_cast<int64_t>(b) * g.C * plane + static_cast<int64_t>(ya) * g.W + xa;
        const scalar_t* p2 = f2 + static_cast<int64_t>(b) * g.C * plane + static_cast<int64_t>(yb) * g.W + xb;
        for (int c = 0; c < g.C; ++c) {
          sum += static_cast<acc_t>(p1[c * plane]) * static_cast<acc_t>(p2[c * plane]);
        }
      }
    }
    const int k = 2 * g.kr + 1;
    out[idx] = static_cast<scalar_t>(sum / static_cast<acc_t>(k * k * g.C));
  }
}

// Output row (or column) whose window tap `tap` lands on input coordinate `pos`, or -1.
__device__ __forceinline__ int window_origin(int pos, int tap, int pad, int md, int stride, int out_size) {
  const int num = pos - tap + pad - md;
  if (num < 0 || num % stride != 0) return -1;
  const int o = num / stride;
  return o < out_size ? o : -1;
}

template <typename scalar_t>
__global__ void correlation_backward_kernel(const scalar_t* __restrict__ grad_out, const scalar_t* __restrict__ f1,
                                            const scalar_t* __restrict__ f2, scalar_t* __restrict__ grad1,
                                            scalar_t* __restrict__ grad2, CorrGeometry g, int64_t total) {
  using acc_t = at::acc_type<scalar_t, true>;
  const int64_t plane = static_cast<int64_t>(g.H) * g.W;
  const int64_t out_plane = static_cast<int64_t>(g.out_h) * g.out_w;
  const int k = 2 * g.kr + 1;
  GRID_STRIDE_LOOP(idx, total) {
    const int x = idx % g.W;
    const int y = (idx / g.W) % g.H;
    const int64_t bc = idx / plane;  // b * C + c
    const int b = bc / g.C;
    const scalar_t* go = grad_out + static_cast<int64_t>(b) * g.D * g.D * out_plane;
    const scalar_t* p1 = f1 + bc * plane;
    const scalar_t* p2 = f2 + bc * plane;
    acc_t sum1 = 0, sum2 = 0;
    for (int tc = 0; tc < g.D * g.D; ++tc) {
      const int dy = (tc / g.D - g.R) * g.s2;
      const int dx = (tc % g.D - g.R) * g.s2;
      const scalar_t* go_c = go + tc * out_plane;
      for (int j = -g.kr; j <= g.kr; ++j) {
        for (int i = -g.kr; i <= g.kr; ++i) {
          // f1 at (y, x) meets f2 at (y + dy, x + dx).
          const int yb = y + dy, xb = x + dx;
          if (yb >= 0 && yb < g.H && xb >= 0 && xb < g.W) {
            const int oy = window_origin(y, j, g.pad, g.md, g.s1, g.out_h);
            const int ox = window_origin(x, i, g.pad, g.md, g.s1, g.out_w);
            if (oy >= 0 && ox >= 0) {
              sum1 += static_cast<acc_t>(go_c[oy * g.out_w + ox]) * static_cast<acc_t>(p2[yb * g.W + xb]);
            }
          }
          // f2 at (y, x) meets f1 at (y - dy, x - dx).
          const int ya = y - dy, xa = x - dx;
          if (ya >= 0 && ya < g.H && xa >= 0 && xa < g.W) {
            const int oy = window_origin(ya, j, g.pad, g.md, g.s1, g.out_h);
            const int ox = window_origin(xa, i, g.pad, g.md, g.s1, g.out_w);
            if (oy >= 0 && ox >= 0) {
              sum2 += static_cast<acc_t>(go_c[oy * g.out_w + ox]) * static_cast<acc_t>(p1[ya * g.W + xa]);
            }
          }
        }
      }
    }
    const acc_t norm = static_cast<acc_t>(k * k * g.C);
    grad1[idx] = static_cast<scalar_t>(sum1 / norm);
    grad2[idx] = static_cast<scalar_t>(sum2 / norm);
  }
}

template <typename scalar_t>
__device__ __forceinline__ void bilinear_corners(scalar_t fx, scalar_t fy, int x, int y, int H, int W,
                                                 int& x0, int& x1, int& y0, int& y1, scalar_t& ax, scalar_t& ay) {
  scalar_t xf = static_cast<scalar_t>(x) + fx;
  scalar_t yf = static_cast<scalar_t>(y) + fy;
  // Clamp before the integer cast so that huge flows cannot overflow; corners clamp independently.
  xf = xf < -1 ? static_cast<scalar_t>(-1) : (xf > W ? static_cast<scalar_t>(W) : xf);
  yf = yf < -1 ? static_cast<scalar_t>(-1) : (yf > H ? static_cast<scalar_t>(H) : yf);
  const scalar_t xl = floor(xf), yt = floor(yf);
  ax = xf - xl;
  ay = yf - yt;
  const int xi = static_cast<int>(xl), yi = static_cast<int>(yt);
  x0 = min(max(xi, 0), W - 1);
  x1 = min(max(xi + 1, 0), W - 1);
  y0 = min(max(yi, 0), H - 1);
  y1 = min(max(yi + 1, 0), H - 1);
}

template <typename scalar_t>
__global__ void resample2d_forward_kernel(const scalar_t* __restrict__ image, const scalar_t* __restrict__ flow,
                                          scalar_t* __restrict__ out, int C, int H, int W, int64_t total) {
  const int64_t plane = static_cast<int64_t>(H) * W;
  GRID_STRIDE_LOOP(idx, total) {
    const int x = idx % W;
    const int y = (idx / W) % H;
    const int64_t bc = idx / plane;
    const int b = bc / C;
    const scalar_t* fl = flow + static_cast<int64_t>(b) * 2 * plane + y * W + x;
    int x0, x1, y0, y1;
    scalar_t ax, ay;
    bilinear_corners(fl[0], fl[plane], x, y, H, W, x0, x1, y0, y1, ax, ay);
    const scalar_t* im = image + bc * plane;
    out[idx] = (1 - ax) * (1 - ay) * im[y0 * W + x0] + ax * (1 - ay) * im[y0 * W + x1] +
               (1 - ax) * ay * im[y1 * W + x0] + ax * ay * im[y1 * W + x1];
  }
}

template <typename scalar_t>
__global__ void resample2d_image_grad_kernel(const scalar_t* __restrict__ grad_out, const scalar_t* __restrict__ flow,
                                             scalar_t* __restrict__ grad_image, int C, int H, int W, int64_t total) {
  const int64_t plane = static_cast<int64_t>(H) * W;
  GRID_STRIDE_LOOP(idx, total) {
    const int x = idx % W;
    const int y = (idx / W) % H;
    const int64_t bc = idx / plane;
    const int b = bc / C;
    const scalar_t* fl = flow + static_cast<int64_t>(b) * 2 * plane + y * W + x;
    int x0, x1, y0, y1;
    scalar_t ax, ay;
    bilinear_corners(fl[0], fl[plane], x, y, H, W, x0, x1, y0, y1, ax, ay);
    const scalar_t g = grad_out[idx];
    scalar_t* gi = grad_image + bc * plane;
    gpuAtomicAdd(gi + y0 * W + x0, (1 - ax) * (1 - ay) * g);
    gpuAtomicAdd(gi + y0 * W + x1, ax * (1 - ay) * g);
    gpuAtomicAdd(gi + y1 * W + x0, (1 - ax) * ay * g);
    gpuAtomicAdd(gi + y1 * W + x1, ax * ay * g);
  }
}

template <typename scalar_t>
__global__ void resample2d_flow_grad_kernel(const scalar_t* __restrict__ grad_out, const scalar_t* __restrict__ image,
                                            const scalar_t* __restrict__ flow, scalar_t* __restrict__ grad_flow,
                                            int C, int H, int W, int64_t total) {
  using acc_t = at::acc_type<scalar_t, true>;
  const int64_t plane = static_cast<int64_t>(H) * W;
  GRID_STRIDE_LOOP(idx, total) {  // one thread per (b, y, x)
    const int x = idx % W;
    const int y = (idx / W) % H;
    const int b = idx / plane;
    const int64_t pix = static_cast<int64_t>(y) * W + x;
    const scalar_t* fl = flow + static_cast<int64_t>(b) * 2 * plane + pix;
    int x0, x1, y0, y1;
    scalar_t ax, ay;
    bilinear_corners(fl[0], fl[plane], x, y, H, W, x0, x1, y0, y1, ax, ay);
    acc_t gx = 0, gy = 0;
    for (int c = 0; c < C; ++c) {
      const scalar_t* im = image + (static_cast<int64_t>(b) * C + c) * plane;
      const acc_t g = grad_out[(static_cast<int64_t>(b) * C + c) * plane + pix];
      const acc_t tl = im[y0 * W + x0], tr = im[y0 * W + x1], bl = im[y1 * W + x0], br = im[y1 * W + x1];
      gx += g * ((1 - ay) * (tr - tl) + ay * (br - bl));
      gy += g * ((1 - ax) * (bl - tl) + ax * (br - tr));
    }
    // Where both corners clamp to one pixel the differences vanish: the border gradient is zero, as in
    // grid_sample with border padding.
    grad_flow[static_cast<int64_t>(b) * 2 * plane + pix] = static_cast<scalar_t>(gx);
    grad_flow[static_cast<int64_t>(b) * 2 * plane + plane + pix] = static_cast<scalar_t>(gy);
  }
}

template <typename scalar_t>
__global__ void channel_norm_forward_kernel(const scalar_t* __restrict__ input, scalar_t* __restrict__ out, int C,
                                            int64_t plane, int64_t total) {
  using acc_t = at::acc_type<scalar_t, true>;
  GRID_STRIDE_LOOP(idx, total) {  // one thread per (b, y, x)
    const int64_t b = idx / plane, pix = idx % plane;
    const scalar_t* in = input + b * C * plane + pix;
    acc_t sum = 0;
    for (int c = 0; c < C; ++c) {
      const acc_t v = in[c * plane];
      sum += v * v;
    }
    out[idx] = static_cast<scalar_t>(sqrt(sum));
  }
}

template <typename scalar_t>
__global__ void channel_norm_backward_kernel(const scalar_t* __restrict__ grad_out, const scalar_t* __restrict__ input,
                                             const scalar_t* __restrict__ output, scalar_t* __restrict__ grad_in,
                                             int C, int64_t plane, int64_t total) {
  GRID_STRIDE_LOOP(idx, total) {  // one thread per (b, c, y, x)
    const int64_t pix = idx % plane, b = idx / (C * plane);
    const int64_t at = b * plane + pix;
    // The epsilon keeps the gradient finite where the norm is zero, as in FlowNet2's kernel.
    grad_in[idx] = grad_out[at] * input[idx] / (output[at] + static_cast<scalar_t>(1e-9));
  }
}

}  // namespace

torch::Tensor correlation_forward_cuda(const torch::Tensor& f1, const torch::Tensor& f2, int64_t pad, int64_t kernel,
                                       int64_t max_disp, int64_t stride1, int64_t stride2) {
  const c10::cuda::CUDAGuard guard(f1.device());
  const CorrGeometry g = corr_geometry(f1, pad, kernel, max_disp, stride1, stride2);
  auto out = torch::empty({g.B, g.D * g.D, g.out_h, g.out_w}, f1.options());
  const int64_t total = out.numel();
  if (total == 0) return out;
  auto stream = c10::cuda::getCurrentCUDAStream();
  AT_DISPATCH_FLOATING_TYPES(f1.scalar_type(), "correlation_forward_cuda", [&] {
    correlation_forward_kernel<scalar_t><<<blocks_for(total), kThreads, 0, stream>>>(
        f1.data_ptr<scalar_t>(), f2.data_ptr<scalar_t>(), out.data_ptr<scalar_t>(), g, total);
  });
  C10_CUDA_KERNEL_LAUNCH_CHECK();
  return out;
}

std::vector<torch::Tensor> correlation_backward_cuda(const torch::Tensor& grad_out, const torch::Tensor& f1,
                                                     const torch::Tensor& f2, int64_t pad, int64_t kernel,
                                                     int64_t max_disp, int64_t stride1, int64_t stride2) {
  const c10::cuda::CUDAGuard guard(f1.device());
  const CorrGeometry g = corr_geometry(f1, pad, kernel, max_disp, stride1, stride2);
  TORCH_CHECK(grad_out.size(0) == g.B && grad_out.size(1) == g.D * g.D && grad_out.size(2) == g.out_h &&
                  grad_out.size(3) == g.out_w,
              "correlation backward: grad_output has the wrong shape");
  auto grad1 = torch::empty_like(f1);
  auto grad2 = torch::empty_like(f2);
  const int64_t total = f1.numel();
  if (total == 0) return {grad1, grad2};
  auto stream = c10::cuda::getCurrentCUDAStream();
  AT_DISPATCH_FLOATING_TYPES(f1.scalar_type(), "correlation_backward_cuda", [&] {
    correlation_backward_kernel<scalar_t><<<blocks_for(total), kThreads, 0, stream>>>(
        grad_out.data_ptr<scalar_t>(), f1.data_ptr<scalar_t>(), f2.data_ptr<scalar_t>(),
        grad1.data_ptr<scalar_t>(), grad2.data_ptr<scalar_t>(), g, total);
  });
  C10_CUDA_KERNEL_LAUNCH_CHECK();
  return {grad1, grad2};
}

torch::Tensor resample2d_forward_cuda(const torch::Tensor& image, const torch::Tensor& flow) {
  const c10::cuda::CUDAGuard guard(image.device());
  auto out = torch::empty_like(image);
  const int64_t total = out.numel();
  if (total == 0) return out;
  auto stream = c10::cuda::getCurrentCUDAStream();
  AT_DISPATCH_FLOATING_TYPES(image.scalar_type(), "resample2d_forward_cuda", [&] {
    resample2d_forward_kernel<scalar_t><<<blocks_for(total), kThreads, 0, stream>>>(
        image.data_ptr<scalar_t>(), flow.data_ptr<scalar_t>(), out.data_ptr<scalar_t>(), image.size(1),
        image.size(2), image.size(3), total);
  });
  C10_CUDA_KERNEL_LAUNCH_CHECK();
  return out;
}

std::vector<torch::Tensor> resample2d_backward_cuda(const torch::Tensor& grad_out, const torch::Tensor& image,
                                                    const torch::Tensor& flow) {
  const c10::cuda::CUDAGuard guard(image.device());
  auto grad_image = torch::zeros_like(image);
  auto grad_flow = torch::zeros_like(flow);
  const int C = image.size(1), H = image.size(2), W = image.size(3);
  const int64_t total = image.numel();
  const int64_t pixels = flow.numel() / 2;
  if (total == 0) return {grad_image, grad_flow};
  auto stream = c10::cuda::getCurrentCUDAStream();
  AT_DISPATCH_FLOATING_TYPES(image.scalar_type(), "resample2d_backward_cuda", [&] {
    resample2d_image_grad_kernel<scalar_t><<<blocks_for(total), kThreads, 0, stream>>>(
        grad_out.data_ptr<scalar_t>(), flow.data_ptr<scalar_t>(), grad_image.data_ptr<scalar_t>(), C, H, W, total);
    C10_CUDA_KERNEL_LAUNCH_CHECK();
    resample2d_flow_grad_kernel<scalar_t><<<blocks_for(pixels), kThreads, 0, stream>>>(
        grad_out.data_ptr<scalar_t>(), image.data_ptr<scalar_t>(), flow.data_ptr<scalar_t>(),
        grad_flow.data_ptr<scalar_t>(), C, H, W, pixels);
    C10_CUDA_KERNEL_LAUNCH_CHECK();
  });
  return {grad_image, grad_flow};
}

torch::Tensor channel_norm_forward_cuda(const torch::Tensor& input) {
  const c10::cuda::CUDAGuard guard(input.device());
  auto out = torch::empty({input.size(0), 1, input.size(2), input.size(3)}, input.options());
  const int64_t plane = input.size(2) * input.size(3);
  const int64_t total = out.numel();
  if (total == 0) return out;
  auto stream = c10::cuda::getCurrentCUDAStream();
  AT_DISPATCH_FLOATING_TYPES(input.scalar_type(), "channel_norm_forward_cuda", [&] {
    channel_norm_forward_kernel<scalar_t><<<blocks_for(total), kThreads, 0, stream>>>(
        input.data_ptr<scalar_t>(), out.data_ptr<scalar_t>(), input.size(1), plane, total);
  });
  C10_CUDA_KERNEL_LAUNCH_CHECK();
  return out;
}

torch::Tensor channel_norm_backward_cuda(const torch::Tensor& grad_out, const torch::Tensor& input,
                                         const torch::Tensor& output) {
  const c10::cuda::CUDAGuard guard(input.device());
  auto grad_in = torch::empty_like(input);
  const int64_t plane = input.size(2) * input.size(3);
  const int64_t total = input.numel();
  if (total == 0) return grad_in;
  auto stream = c10::cuda::getCurrentCUDAStream();
  AT_DISPATCH_FLOATING_TYPES(input.scalar_type(), "channel_norm_backward_cuda", [&] {
    channel_norm_backward_kernel<scalar_t><<<blocks_for(total), kThreads, 0, stream>>>(
        grad_out.data_ptr<scalar_t>(), input.data_ptr<scalar_t>(), output.data_ptr<scalar_t>(),
        grad_in.data_ptr<scalar_t>(), input.size(1), plane, total);
  });
  C10_CUDA_KERNEL_LAUNCH_CHECK();
  return grad_in;
}
