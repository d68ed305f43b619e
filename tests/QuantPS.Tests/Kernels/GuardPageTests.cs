using System.Runtime.InteropServices;
using QuantPS.Kernels;
using Xunit;

namespace QuantPS.Tests.Kernels;

/// <summary>
/// Rows that end exactly where a PROT_NONE page begins: a kernel reading or writing one byte past its
/// row crashes the test process instead of passing by luck. Every width of every generated kernel.
/// </summary>
public sealed unsafe class GuardPageTests
{
    public static TheoryData<GgmlType, string> Cases()
    {
        var data = new TheoryData<GgmlType, string>();
        foreach (var type in KernelGolden.KernelTypes)
        {
            foreach (var width in KernelWidth.All)
            {
                data.Add(type, width.ToString());
            }
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void Kernels_stay_inside_rows_that_end_at_a_guard_page(GgmlType type, string width)
    {
        if (!OperatingSystem.IsLinux())
        {
            Assert.Skip("guard pages are set up with Linux mmap/mprotect");
        }

        var info = GgmlTypeTraits.Get(type);
        var vectorWidth = Enum.Parse<VectorWidth>(width);
        var activation = GgmlTypeTraits.Get(info.ActivationType);
        var random = new Random(42);

        // Block counts that leave V512 an odd last block and the element loops a scalar tail.
        foreach (var blocks in new[] { 1, 3, 8 })
        {
            var count = info.BlockSize == 1 ? 37L * blocks : (long)blocks * info.BlockSize;
            var values = Enumerable.Range(0, (int)count).Select(_ => (float)(random.NextDouble() - 0.5)).ToArray();

            // Quantize into a row that ends at the guard, from floats that end at another.
            using var floats = new GuardedBuffer(count * sizeof(float));
            values.AsSpan().CopyTo(new Span<float>(floats.Start, (int)count));
            using var weights = new GuardedBuffer(info.RowSizeBytes(count));
            if (GgmlKernelCatalog.QuantizeActivation(type, vectorWidth) is { } quantize)
            {
                quantize((float*)floats.Start, weights.Start, count);
            }
            else
            {
                // Weight-only types: any bytes are a valid row; random ones exercise every quant value.
                random.NextBytes(new Span<byte>(weights.Start, (int)weights.Length));
                ClearScales(type, weights, count);
            }

            using var output = new GuardedBuffer(count * sizeof(float));
            GgmlKernelCatalog.Dequantize(type, vectorWidth)!(weights.Start, (float*)output.Start, count);

            if (GgmlKernelCatalog.Dot(type, vectorWidth) is { } dot)
            {
                using var act = new GuardedBuffer(activation.RowSizeBytes(count));
                activation.QuantizeActivation!((float*)floats.Start, act.Start, count);
                var result = dot(count, weights.Start, act.Start);
                Assert.False(float.IsNaN(result), $"{type} {width}: NaN from finite rows");
            }
        }
    }

    /// <summary>Random scale bytes could be F16 NaN/Inf; give every block the scale 1.0 (E8M0 127) instead.</summary>
    private static void ClearScales(GgmlType type, GuardedBuffer row, long count)
    {
        var info = GgmlTypeTraits.Get(type);
        for (long b = 0; b < count / info.BlockSize; b++)
        {
            var block = row.Start + (b * info.TypeSize);
            if (type == GgmlType.MXFP4)
            {
                block[0] = 127;
                continue;
            }

            // IQ1_M has no scale field: the F16 bits are the top nibbles of its four Scales words (from byte 48).
            if (type == GgmlType.IQ1_M)
            {
                var words = (ushort*)(block + 48);
                for (var k = 0; k < 4; k++)
                {
                    words[k] = (ushort)((words[k] & 0x0FFF) | (((0x3C00 >> (4 * k)) & 0xF) << 12));
                }

                continue;
            }

            // UE4M3 scales have no NaN or infinity (0x7F reads as 0): any bytes are finite.
            if (type == GgmlType.NVFP4)
            {
                continue;
            }

            // Byte offsets of the F16 scale and min (ggml-common.h): at the front, or after the K-quants' packed fields.
            var (scale, min) = type switch
            {
                GgmlType.Q4_1 or GgmlType.Q5_1 or GgmlType.Q4_K or GgmlType.Q5_K => (0, 2),
                GgmlType.Q2_K => (80, 82),
                GgmlType.Q3_K => (108, -1),
                GgmlType.Q6_K => (208, -1),
                GgmlType.TQ2_0 => (64, -1),
                GgmlType.TQ1_0 => (52, -1),
                _ => (0, -1),
            };
            *(ushort*)(block + scale) = 0x3C00;
            if (min >= 0)
            {
                *(ushort*)(block + min) = 0x3C00;
            }
        }
    }

    /// <summary>
    /// <c>length</c> bytes ending exactly at a PROT_NONE page (mmap'd, so the guard is real memory protection).
    /// </summary>
    private sealed class GuardedBuffer : IDisposable
    {
        private const int ProtNone = 0, ProtRead = 1, ProtWrite = 2, MapPrivate = 2, MapAnonymous = 0x20;
        private readonly nint mapping;
        private readonly nuint mappingLength;

        public GuardedBuffer(long length)
        {
            var page = (long)Environment.SystemPageSize;
            var dataPages = Math.Max(1, (length + page - 1) / page);
            mappingLength = (nuint)((dataPages + 1) * page);
            mapping = mmap(0, mappingLength, ProtRead | ProtWrite, MapPrivate | MapAnonymous, -1, 0);
            Assert.True(mapping != -1, "mmap failed: errno " + Marshal.GetLastPInvokeError());
            var guard = mapping + (nint)(dataPages * page);
            Assert.Equal(0, mprotect(guard, (nuint)page, ProtNone));
            Length = length;
            Start = (byte*)guard - length;
        }

        public byte* Start { get; }

        public long Length { get; }

        public void Dispose() => munmap(mapping, mappingLength);

        [DllImport("libc", SetLastError = true)]
        private static extern nint mmap(nint address, nuint length, int protection, int flags, int fd, nint offset);

        [DllImport("libc", SetLastError = true)]
        private static extern int mprotect(nint address, nuint length, int protection);

        [DllImport("libc", SetLastError = true)]
        private static extern int munmap(nint address, nuint length);
    }
}
