using System.Runtime.InteropServices;
using QuantPS.Kernels;

namespace QuantPS.Benchmarks;

/// <summary>
/// Random weights in any type, for speed only. No quantizer exists for most types, so a pool of random blocks is
/// drawn, each kept only when the reference dequantizer gives moderate finite values (no NaN, no subnormal-heavy
/// scales that would slow the float math), and the matrix is filled from that pool.
/// </summary>
public static unsafe class SyntheticWeights
{
    private const int PoolBlocks = 4096;

    /// <summary>64-byte aligned native memory holding <paramref name="n"/> rows of <paramref name="k"/> values; free with <see cref="Free"/>.</summary>
    public static byte* Create(GgmlTypeInfo type, long k, long n, int seed)
    {
        var dequantize = type.DequantizeReference ?? throw new InvalidOperationException($"{type.Name} has no reference dequantizer.");
        var random = new Random(seed);
        var pool = new byte[PoolBlocks * type.TypeSize];
        var values = new float[type.BlockSize];
        fixed (byte* blocks = pool)
        fixed (float* decoded = values)
        {
            for (var b = 0; b < PoolBlocks; b++)
            {
                var block = blocks + (long)b * type.TypeSize;
                do
                {
                    random.NextBytes(new Span<byte>(block, type.TypeSize));
                    dequantize(block, decoded, type.BlockSize);
                }
                while (!IsModerate(values));
            }
        }

        var bytes = type.RowSizeBytes(k) * n;
        var data = (byte*)NativeMemory.AlignedAlloc((nuint)bytes, 64);
        for (long offset = 0; offset < bytes; offset += type.TypeSize)
        {
            pool.AsSpan(random.Next(PoolBlocks) * type.TypeSize, type.TypeSize).CopyTo(new Span<byte>(data + offset, type.TypeSize));
        }

        return data;
    }

    /// <summary>Activations in [-1, 1), as test-backend-ops draws them.</summary>
    public static float* Activations(long count, int seed)
    {
        var random = new Random(seed);
        var data = (float*)NativeMemory.AlignedAlloc((nuint)(count * sizeof(float)), 64);
        for (long i = 0; i < count; i++)
        {
            data[i] = random.NextSingle() * 2 - 1;
        }

        return data;
    }

    public static T* Allocate<T>(long count) where T : unmanaged
    {
        var data = (T*)NativeMemory.AlignedAlloc((nuint)(count * sizeof(T)), 64);
        NativeMemory.Clear(data, (nuint)(count * sizeof(T)));
        return data;
    }

    public static void Free(void* data) => NativeMemory.AlignedFree(data);

    private static bool IsModerate(float[] values)
    {
        var largest = 0f;
        foreach (var v in values)
        {
            if (!float.IsFinite(v) || MathF.Abs(v) > 16)
            {
                return false;
            }

            largest = MathF.Max(largest, MathF.Abs(v));
        }

        return largest >= 1e-2f;
    }
}
