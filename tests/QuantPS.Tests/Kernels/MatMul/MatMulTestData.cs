using System.Runtime.InteropServices;
using QuantPS.Kernels;

namespace QuantPS.Tests.Kernels.MatMul;

/// <summary>
/// Synthetic operands for matmul tests. There is no quantizer for most types, so weights are random bytes kept
/// block by block only when the reference dequantizer turns them into moderate finite values (scales included).
/// </summary>
internal static unsafe class MatMulTestData
{
    // Types that are only ever activations (ggml has no dot with them as weights).
    private static readonly GgmlType[] ActivationOnly = { GgmlType.Q8_1, GgmlType.Q8_K };

    /// <summary>Every type that may be matmul weights; theories take those the driver supports.</summary>
    public static IEnumerable<GgmlType> WeightTypes() =>
        GgmlTypeTraits.All
            .Where(info => info.IsQuantized || info.Type is GgmlType.F32 or GgmlType.F16 or GgmlType.BF16)
            .Select(info => info.Type)
            .Except(ActivationOnly);

    /// <summary>Weights of <paramref name="n"/> rows of <paramref name="k"/> values in <paramref name="type"/>.</summary>
    public static byte[] RandomWeights(GgmlTypeInfo type, long k, long n, int seed)
    {
        var dequantize = type.DequantizeReference ?? throw new InvalidOperationException($"{type.Name} has no reference dequantizer.");
        var random = new Random(seed);
        var bytes = new byte[type.RowSizeBytes(k) * n];
        var values = new float[type.BlockSize];
        fixed (byte* start = bytes)
        fixed (float* decoded = values)
        {
            for (long offset = 0; offset < bytes.Length; offset += type.TypeSize)
            {
                var block = new Span<byte>(start + offset, type.TypeSize);
                for (var attempt = 0; ; attempt++)
                {
                    random.NextBytes(block);
                    dequantize(start + offset, decoded, type.BlockSize);
                    if (IsModerate(values))
                    {
                        break;
                    }

                    if (attempt > 100_000)
                    {
                        throw new InvalidOperationException($"Could not draw a moderate random {type.Name} block.");
                    }
                }
            }
        }

        return bytes;
    }

    private static bool IsModerate(float[] values)
    {
        var largest = 0f;
        foreach (var v in values)
        {
            if (!float.IsFinite(v) || MathF.Abs(v) > 64)
            {
                return false;
            }

            largest = MathF.Max(largest, MathF.Abs(v));
        }

        return largest >= 1e-3f;
    }

    /// <summary>Activations in [-2, 2) with a few larger outliers, as hidden states have.</summary>
    public static float[] RandomActivations(long k, long m, int seed)
    {
        var random = new Random(seed);
        var x = new float[k * m];
        for (var i = 0; i < x.Length; i++)
        {
            x[i] = (float)(random.NextDouble() * 4 - 2) * (random.Next(64) == 0 ? 8 : 1);
        }

        return x;
    }

    /// <summary>
    /// The float64 oracle: W dequantized by the reference dequantizer, X quantized to the activation type and
    /// dequantized back (what the kernel sees), the dot in double. Also returns sum |w·x| per element for tolerances.
    /// </summary>
    public static (double[] Y, double[] Magnitude) Reference(GgmlTypeInfo type, byte[] weights, float[] x, long k, long n, long m)
    {
        var w = Dequantize(type, weights, k * n);
        var activation = GgmlTypeTraits.Get(type.ActivationType);
        var xs = activation.Type == GgmlType.F32 ? x : RoundTrip(activation, x, k, m);
        var y = new double[m * n];
        var magnitude = new double[m * n];
        for (long i = 0; i < m; i++)
        {
            for (long j = 0; j < n; j++)
            {
                double sum = 0, abs = 0;
                for (long e = 0; e < k; e++)
                {
                    var product = (double)w[j * k + e] * xs[i * k + e];
                    sum += product;
                    abs += Math.Abs(product);
                }

                y[i * n + j] = sum;
                magnitude[i * n + j] = abs;
            }
        }

        return (y, magnitude);
    }

    private static float[] Dequantize(GgmlTypeInfo type, byte[] data, long count)
    {
        var dequantize = type.DequantizeReference ?? throw new InvalidOperationException($"{type.Name} has no reference dequantizer.");
        var values = new float[count];
        fixed (byte* source = data)
        fixed (float* destination = values)
        {
            dequantize(source, destination, count);
        }

        return values;
    }

    private static float[] RoundTrip(GgmlTypeInfo activation, float[] x, long k, long m)
    {
        var quantize = activation.QuantizeActivation ?? throw new InvalidOperationException($"{activation.Name} has no activation quantizer.");
        var rowBytes = activation.RowSizeBytes(k);
        var packed = new byte[rowBytes * m];
        fixed (float* source = x)
        fixed (byte* destination = packed)
        {
            for (long row = 0; row < m; row++)
            {
                quantize(source + row * k, destination + row * rowBytes, k);
            }
        }

        return Dequantize(activation, packed, k * m);
    }

    /// <summary>Pinned native copy, so tests hand the driver the raw pointers a mapped file gives.</summary>
    public sealed class Native<T> : IDisposable where T : unmanaged
    {
        public Native(ReadOnlySpan<T> data)
        {
            Length = data.Length;
            Pointer = (T*)NativeMemory.AlignedAlloc((nuint)Math.Max(1, data.Length * sizeof(T)), 64);
            data.CopyTo(new Span<T>(Pointer, data.Length));
        }

        public Native(long length) : this(new T[length])
        {
        }

        public T* Pointer { get; private set; }

        public long Length { get; }

        public T[] ToArray() => new ReadOnlySpan<T>(Pointer, (int)Length).ToArray();

        public void Dispose()
        {
            NativeMemory.AlignedFree(Pointer);
            Pointer = null;
        }
    }
}
