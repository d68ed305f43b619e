using System.Numerics;
using System.Runtime.CompilerServices;

namespace QuantPS.Inference.Engine;

/// <summary>
/// The small vector loops of <see cref="Attention"/>, on one head's values. Portable <see cref="Vector{T}"/> code
/// (any width, scalar fallback): these are engine arithmetic between kernels, not block-format kernels.
/// </summary>
internal static unsafe class AttentionMath
{
    // Sum of k[i] * q[i], each product rounded to float (exact for F16 inputs), the sum in double.
    public static double DotDouble(float* k, float* q, int n)
    {
        var i = 0;
        double sum = 0;
        if (Vector.IsHardwareAccelerated && n >= Vector<float>.Count)
        {
            var low = Vector<double>.Zero;
            var high = Vector<double>.Zero;
            for (; i + Vector<float>.Count <= n; i += Vector<float>.Count)
            {
                var product = Unsafe.ReadUnaligned<Vector<float>>(k + i) * Unsafe.ReadUnaligned<Vector<float>>(q + i);
                Vector.Widen(product, out var a, out var b);
                low += a;
                high += b;
            }

            sum = Vector.Sum(low + high);
        }

        for (; i < n; i++)
        {
            sum += k[i] * q[i];
        }

        return sum;
    }

    public static void Scale(float* x, float factor, int n)
    {
        var d = 0;
        if (Vector.IsHardwareAccelerated)
        {
            for (; d + Vector<float>.Count <= n; d += Vector<float>.Count)
            {
                Unsafe.WriteUnaligned(x + d, Unsafe.ReadUnaligned<Vector<float>>(x + d) * factor);
            }
        }

        for (; d < n; d++)
        {
            x[d] *= factor;
        }
    }

    // The largest of n > 0 values (NaN if any is NaN, as MathF.Max folds them).
    public static float Max(float* x, int n)
    {
        var i = 0;
        var max = float.NegativeInfinity;
        if (Vector.IsHardwareAccelerated && n >= Vector<float>.Count)
        {
            var lanes = Unsafe.ReadUnaligned<Vector<float>>(x);
            for (i = Vector<float>.Count; i + Vector<float>.Count <= n; i += Vector<float>.Count)
            {
                lanes = Vector.Max(lanes, Unsafe.ReadUnaligned<Vector<float>>(x + i));
            }

            for (var l = 0; l < Vector<float>.Count; l++)
            {
                max = MathF.Max(max, lanes[l]);
            }
        }

        for (; i < n; i++)
        {
            max = MathF.Max(max, x[i]);
        }

        return max;
    }

    public static float Dot(float* a, float* b, int n)
    {
        var i = 0;
        var sum = Vector<float>.Zero;
        if (Vector.IsHardwareAccelerated)
        {
            for (; i + Vector<float>.Count <= n; i += Vector<float>.Count)
            {
                sum += Unsafe.ReadUnaligned<Vector<float>>(a + i) * Unsafe.ReadUnaligned<Vector<float>>(b + i);
            }
        }

        var total = Vector.Sum(sum);
        for (; i < n; i++)
        {
            total += a[i] * b[i];
        }

        return total;
    }
}
