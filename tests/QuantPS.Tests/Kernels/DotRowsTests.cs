using System.Runtime.InteropServices;
using QuantPS.Kernels;
using Xunit;

namespace QuantPS.Tests.Kernels;

/// <summary>
/// Dot4 (one weight row against four activation rows, as matrix-matrix products call it) equals four single-row dot
/// products bit for bit, for every weight type at every width: the golden weight rows against the golden activation
/// row and three more quantized from scaled copies of the golden activations.
/// </summary>
public sealed class DotRowsTests
{
    public static TheoryData<string, string> Cases()
    {
        var data = new TheoryData<string, string>();
        foreach (var type in KernelGolden.WeightTypes)
        foreach (var width in KernelWidth.All)
        {
            data.Add(type, width.ToString());
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public unsafe void Dot4_equals_four_dots_bit_for_bit(string ggmlName, string widthName)
    {
        var width = Enum.Parse<VectorWidth>(widthName);
        var info = KernelGolden.Info(ggmlName);
        var activationType = GgmlTypeTraits.Get(info.ActivationType);
        var dot = GgmlKernelCatalog.Dot(info.Type, width)!;
        var dot4 = GgmlKernelCatalog.Dot4(info.Type, width)!;
        const int Count = KernelGolden.Columns;
        long activationBytes = activationType.RowSizeBytes(Count);
        var activations = new byte[4 * activationBytes];
        KernelGolden.Bytes($"{ggmlName}/act_q.bin").AsSpan(0, (int)activationBytes).CopyTo(activations);
        var source = KernelGolden.Floats("activation.f32").AsSpan(0, Count).ToArray();
        for (var r = 1; r < 4; r++)
        {
            var scaled = source.Select((v, i) => v * (0.5f + r) * (i % 7 == r ? -1 : 1)).ToArray();
            fixed (float* x = scaled)
            fixed (byte* y = &activations[r * activationBytes])
            {
                if (activationType.QuantizeActivation is { } quantize) quantize(x, y, Count);
                else MemoryMarshal.AsBytes(scaled.AsSpan()).CopyTo(activations.AsSpan((int)(r * activationBytes)));
            }
        }

        var weights = KernelGolden.Bytes($"{ggmlName}/{KernelGolden.GoldenVariants(ggmlName)[0]}.bin");
        long weightRowBytes = info.RowSizeBytes(Count);
        var results = new float[4];
        fixed (byte* w = weights)
        fixed (byte* a = activations)
        fixed (float* four = results)
        {
            // The whole row; one and two blocks short of it (leftovers after the widest step: a pair through the narrower
            // step, a single block through the scalar loop); and two blocks alone (attention's Q8_0 keys of 64 values).
            foreach (var count in new long[] { Count, Count - info.BlockSize, Count - (2 * info.BlockSize), 2 * info.BlockSize })
            for (var row = 0; row < KernelGolden.Rows; row++)
            {
                dot4(count, w + (row * weightRowBytes), a, activationBytes, four);
                for (var r = 0; r < 4; r++)
                {
                    var single = dot(count, w + (row * weightRowBytes), a + (r * activationBytes));
                    Assert.True(BitConverter.SingleToInt32Bits(single) == BitConverter.SingleToInt32Bits(results[r]),
                        $"{ggmlName} {width} n {count} row {row} activation {r}: Dot4 {results[r]} vs Dot {single}");
                }
            }
        }
    }
}
