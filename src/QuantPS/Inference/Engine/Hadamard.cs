using System.Numerics;

namespace QuantPS.Inference.Engine;

/// <summary>
/// The orthonormal Walsh-Hadamard rotation llama.cpp puts around a quantized KV cache (attn_rot_k / attn_rot_v):
/// each chunk of n values (n a power of two) times 1/sqrt(n), then butterflies (u + v, u - v) of span 1, 2 ... n/2,
/// in the order of ggml's fwht, so the floats are ggml's. Its own inverse (H H = I): rotating twice gives the input back
/// up to rounding. Spreading each head's values this way evens out the quantization error of the cache.
/// </summary>
internal static unsafe class Hadamard
{
    /// <summary>Rotates <paramref name="count"/> values in place, chunk by chunk of <paramref name="n"/>.</summary>
    public static void Rotate(float* x, long count, int n)
    {
        var scale = 1f / MathF.Sqrt(n);
        for (long start = 0; start < count; start += n)
        {
            var chunk = x + start;
            for (var j = 0; j < n; j++)
            {
                chunk[j] *= scale;
            }

            for (var span = 1; span < n; span <<= 1)
            {
                for (var i = 0; i < n; i += 2 * span)
                {
                    Butterflies(chunk + i, chunk + i + span, span);
                }
            }
        }
    }

    /// <summary>The largest power of two from 64 up that divides <paramref name="headDimension"/> (llama.cpp's K rotation size).</summary>
    public static int KeySize(int headDimension)
    {
        var n = 64;
        while (headDimension % (2 * n) == 0)
        {
            n *= 2;
        }

        return n;
    }

    // u + v and u - v, element by element (each lane independent, so any vector width gives the same floats).
    private static void Butterflies(float* u, float* v, int count)
    {
        var j = 0;
        if (Vector.IsHardwareAccelerated)
        {
            for (; j + Vector<float>.Count <= count; j += Vector<float>.Count)
            {
                var a = Vector.Load(u + j);
                var b = Vector.Load(v + j);
                (a + b).Store(u + j);
                (a - b).Store(v + j);
            }
        }

        for (; j < count; j++)
        {
            var a = u[j];
            var b = v[j];
            u[j] = a + b;
            v[j] = a - b;
        }
    }
}
