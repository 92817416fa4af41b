/* TMN neurons of one layer of the conversion simulation, fused into one pass over memory per step.
 *
 * golden/conversion/native.py compiles this file into a shared library and
 * calls tmn_layer through ctypes, one call per range of neurons and thread.
 * It computes the digits of golden.neuron.TMN with a scalar threshold, bit
 * for bit, in the same float32 operations as golden/conversion/dynamics.py:
 *
 *     u_hat = 2 u + z[n]          (2 u is exact, so one rounding, as in PyTorch)
 *     s     = [u_hat >= f] - [u_hat <= -f]   at firing steps n >= P
 *     u     = u_hat - theta s     (theta s is exact: s is -1, 0 or 1)
 *     digit = s once the first non-zero spike was positive (ReLU gate), else 0
 *
 * and writes scale * digit, the value the next layer receives. It also
 * counts the positive and negative digits of each output step, so that the
 * caller need not read the digits again. Compile without -ffast-math: the
 * result must round exactly as PyTorch's element-wise kernels do.
 */

#include <stdint.h>

/* Neurons whose state stays in registers and L1 cache while all steps run over them. */
#ifndef BLOCK
#define BLOCK 2048
#endif

/* Run `neurons` neurons for timesteps + precharge steps.
 *
 * z[n * z_stride + i] is the input of neuron i at input step n, and z_stride
 * 0 gives the same input at every step. out[k * out_stride + i] receives
 * output step k. positive[k] and negative[k] are increased by the number of
 * +1 and -1 digits of output step k.
 */
void tmn_layer(const float *z, int64_t z_stride, float *out, int64_t out_stride, int64_t neurons,
               int32_t timesteps, int32_t precharge, float reset, float fire_level, int32_t predictive,
               int32_t gate, float scale, int64_t *positive, int64_t *negative)
{
    float u[BLOCK];
    float first[BLOCK]; /* sign of the neuron's first non-zero spike, 0 while undecided */
    const float negative_level = -fire_level;
    /* Branch-free forms of the two options, so that the compiler vectorises the loop: without predictive
     * spiking the negative spike is weighted 0; without the gate every neuron passes (first > -2). */
    const float negative_weight = predictive ? 1.0f : 0.0f;
    const float open_level = gate ? 0.0f : -2.0f;
    for (int64_t start = 0; start < neurons; start += BLOCK) {
        const int64_t length = neurons - start < BLOCK ? neurons - start : BLOCK;
        for (int64_t i = 0; i < length; i++) {
            u[i] = 0.0f;
            first[i] = 0.0f;
        }
        for (int32_t n = 0; n < timesteps + precharge; n++) {
            if (n < timesteps) {
                const float *input = z + (int64_t)n * z_stride + start;
                for (int64_t i = 0; i < length; i++)
                    u[i] = 2.0f * u[i] + input[i];
            } else {
                for (int64_t i = 0; i < length; i++)
                    u[i] = 2.0f * u[i];
            }
            if (n < precharge)
                continue;
            float *output = out + (int64_t)(n - precharge) * out_stride + start;
            int32_t ups = 0, downs = 0;
            for (int64_t i = 0; i < length; i++) {
                const float s = (float)(u[i] >= fire_level) - negative_weight * (float)(u[i] <= negative_level);
                u[i] -= reset * s;
                first[i] += s * (float)(first[i] == 0.0f);
                const float digit = s * (float)(first[i] > open_level);
                ups += digit > 0.0f;
                downs += digit < 0.0f;
                output[i] = digit * scale;
            }
            positive[n - precharge] += ups;
            negative[n - precharge] += downs;
        }
    }
}
