using QuantPS.Kernels;
using QuantPS.Kernels.Generated;
using QuantPS.Kernels.MatMul;
using QuantPS.Tests.Kernels.MatMul;
using Xunit;

namespace QuantPS.Tests.Kernels;

/// <summary>
/// The integer panels (IntegerPanelKernels) that matrix-matrix products over 32-integer-block weights run: each type's
/// DecodeIntegers gives exactly the dequantized values, and a panel product equals the scalar dot product bit for bit
/// at every width, on llama.cpp's golden rows and through the driver.
/// </summary>
public sealed class IntegerPanelTests
{
    // Weight types whose batched products run on panels: 32-integer blocks, and the K-quants' super-panels.
    private static readonly GgmlType[] PanelTypes = GgmlTypeTraits.All
        .Where(info => MatMulDriver.IsSupported(info.Type) && (info.DecodeIntegers is not null || info.DecodeSubScaled is not null))
        .Select(info => info.Type).ToArray();

    public static TheoryData<string, string> GoldenCases()
    {
        var data = new TheoryData<string, string>();
        foreach (var type in KernelGolden.WeightTypes.Where(name => KernelGolden.Info(name).DecodeIntegers is not null))
        foreach (var width in KernelWidth.All)
        {
            data.Add(type, width.ToString());
        }

        return data;
    }

    public static TheoryData<GgmlType> Types() => new(PanelTypes);

    [Fact]
    public void Legacy_blocks_and_K_quants_have_integer_panels()
    {
        // Q8_K decodes too: the super-panels' activations.
        Assert.Equal(
            new[] { GgmlType.Q4_0, GgmlType.Q5_0, GgmlType.Q8_0, GgmlType.Q8_1, GgmlType.IQ4_NL, GgmlType.MXFP4, GgmlType.Q8_K }.OrderBy(t => t),
            GgmlTypeTraits.All.Where(info => info.DecodeIntegers is not null).Select(info => info.Type).OrderBy(t => t));
        Assert.Equal(
            new[] { (GgmlType.Q2_K, 16), (GgmlType.Q3_K, 0), (GgmlType.Q4_K, 8), (GgmlType.Q5_K, 8), (GgmlType.Q6_K, 0) },
            GgmlTypeTraits.All.Where(info => info.DecodeSubScaled is not null).Select(info => (info.Type, info.SubScaledMins)).OrderBy(p => p.Type));
        Assert.Equal(
            new[] { (GgmlType.Q2_K, 3), (GgmlType.Q4_K, 15), (GgmlType.Q5_K, 31) },
            GgmlTypeTraits.All.Where(info => info.DecodeSubBlocks is not null).Select(info => (info.Type, info.SubBlockQuantMax)).OrderBy(p => p.Type));
        Assert.All(new[] { GgmlType.Q4_1, GgmlType.Q5_1, GgmlType.IQ4_XS, GgmlType.F16 }, type =>
        {
            Assert.Null(GgmlTypeTraits.Get(type).DecodeIntegers);
            Assert.Null(GgmlTypeTraits.Get(type).DecodeSubScaled);
        });
    }

    [Theory]
    [MemberData(nameof(GoldenCases))]
    public unsafe void Integers_times_scale_are_the_dequantized_values_bit_for_bit(string ggmlName, string widthName)
    {
        var width = Enum.Parse<VectorWidth>(widthName);
        var info = KernelGolden.Info(ggmlName);
        var decode = GgmlKernelCatalog.DecodeIntegers(info.Type, width)!;
        var rows = KernelGolden.Bytes($"{ggmlName}/{KernelGolden.GoldenVariants(ggmlName)[0]}.bin");
        const int Count = KernelGolden.Columns;
        for (var row = 0; row < KernelGolden.Rows; row++)
        {
            var bytes = KernelGolden.Row(rows, info, row);
            var expected = KernelGolden.Dequantize(info.DequantizeReference!, bytes, Count);
            var values = new sbyte[Count];
            var scales = new float[Count / 32];
            fixed (byte* source = bytes)
            fixed (sbyte* v = values)
            fixed (float* s = scales)
            {
                decode(source, v, s, Count);
            }

            var actual = values.Select((value, i) => scales[i / 32] * value).ToArray();
            Assert.True(KernelGolden.FirstBitDifference(expected, actual) < 0, $"{ggmlName} {width} row {row}: value {KernelGolden.FirstBitDifference(expected, actual)} differs");
        }
    }

    public static TheoryData<string, string, int> PanelCases()
    {
        // Flush 0: the int16 panels (every type); 8 and 4: the byte panels, for the types whose range they take.
        var data = new TheoryData<string, string, int>();
        foreach (var type in KernelGolden.WeightTypes.Where(name => KernelGolden.Info(name).DecodeIntegers is not null))
        foreach (var flush in new[] { 0, 8, 4 })
        foreach (var width in KernelWidth.All)
        {
            var info = KernelGolden.Info(type);
            if (flush == 0 || info.IntegerMax - info.IntegerMin <= IntegerPanelKernels.ByteRangeFor(flush))
            {
                data.Add(type, width.ToString(), flush);
            }
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(PanelCases))]
    public unsafe void A_panel_product_is_the_scalar_dot_product_bit_for_bit(string ggmlName, string widthName, int flush)
    {
        var width = Enum.Parse<VectorWidth>(widthName);
        var info = KernelGolden.Info(ggmlName);
        var activation = GgmlTypeTraits.Get(info.ActivationType);
        const int Count = KernelGolden.Columns;
        const int Blocks = Count / 32;
        var lanes = IntegerPanelKernels.LanesAt(width);
        var tokens = IntegerPanelKernels.Tokens;
        var rows = Math.Min(lanes, KernelGolden.Rows); // at V512 four lanes stay empty
        var weights = KernelGolden.Bytes($"{ggmlName}/{KernelGolden.GoldenVariants(ggmlName)[0]}.bin");
        var bias = -info.IntegerMin;

        // Activation rows as the driver lays them out: int16 values then the block scales (int16 panels), or int8
        // values then the block scales then the block sums (byte panels).
        var golden = PanelActivations.Golden(activation, tokens, Count);
        var strideBytes = flush == 0 ? (2 * Count) + (4 * Blocks) : Count + (8 * Blocks);
        var quantizedRows = new byte[tokens][];
        var prepared = new byte[tokens * strideBytes];
        for (var t = 0; t < tokens; t++)
        {
            var (quantized, values, scales) = golden[t];
            quantizedRows[t] = quantized;

            var row = prepared.AsSpan(t * strideBytes, strideBytes);
            if (flush == 0)
            {
                var wide = System.Runtime.InteropServices.MemoryMarshal.Cast<byte, short>(row);
                for (var i = 0; i < Count; i++)
                {
                    wide[i] = values[i];
                }

                scales.AsSpan().CopyTo(System.Runtime.InteropServices.MemoryMarshal.Cast<byte, float>(row[(2 * Count)..]));
            }
            else
            {
                System.Runtime.InteropServices.MemoryMarshal.AsBytes(values.AsSpan()).CopyTo(row);
                scales.AsSpan().CopyTo(System.Runtime.InteropServices.MemoryMarshal.Cast<byte, float>(row[Count..]));
                var sums = System.Runtime.InteropServices.MemoryMarshal.Cast<byte, int>(row[(Count + (4 * Blocks))..]);
                for (var b = 0; b < Blocks; b++)
                {
                    sums[b] = values.AsSpan(b * 32, 32).ToArray().Sum(value => (int)value);
                }
            }
        }

        var decodedValues = new sbyte[lanes * Count];
        var decodedScales = new float[lanes * Blocks];
        var panel = new int[Blocks * IntegerPanelKernels.BlockInts * lanes];
        var results = new float[tokens * lanes];
        var decode = GgmlKernelCatalog.DecodeIntegers(info.Type, width)!;
        fixed (byte* w = weights)
        fixed (sbyte* v = decodedValues)
        fixed (float* s = decodedScales)
        fixed (int* p = panel)
        fixed (byte* a = prepared)
        fixed (float* y = results)
        {
            for (var r = 0; r < rows; r++)
            {
                decode(w + (r * info.RowSizeBytes(Count)), v + (r * Count), s + (r * Blocks), Count);
            }

            if (flush == 0)
            {
                IntegerPanelKernels.PackPanelAt(width, v, Count, s, Blocks, Blocks, p);
                IntegerPanelKernels.PanelTileAt(width)(Blocks, p, (short*)a, strideBytes / 2, y, lanes);
            }
            else
            {
                IntegerPanelKernels.PackBytePanelAt(width, v, Count, s, Blocks, Blocks, p, bias);
                IntegerPanelKernels.PanelTileBytesAt(width, flush)(Blocks, p, (sbyte*)a, strideBytes, bias, y, lanes);
            }
        }

        var dot = GgmlKernelCatalog.Dot(info.Type, VectorWidth.Scalar)!;
        for (var t = 0; t < tokens; t++)
        {
            for (var r = 0; r < lanes; r++)
            {
                var expected = r < rows ? KernelGolden.Dot(dot, KernelGolden.Row(weights, info, r), quantizedRows[t], Count) : 0f;
                Assert.True(
                    BitConverter.SingleToInt32Bits(expected) == BitConverter.SingleToInt32Bits(results[(t * lanes) + r]),
                    $"{ggmlName} {width} flush {flush} row {r} activation {t}: panel {results[(t * lanes) + r]} vs scalar dot {expected}");
            }
        }
    }

    [Fact]
    public void Integer_ranges_decide_which_panels_fit()
    {
        // The decoded ranges, and the widest byte flush each allows (0: the int16 panels).
        Assert.Equal((-8, 7, 8), Range(GgmlType.Q4_0));
        Assert.Equal((-16, 15, 4), Range(GgmlType.Q5_0));
        Assert.Equal((-12, 12, 4), Range(GgmlType.MXFP4));
        Assert.Equal((-128, 127, 0), Range(GgmlType.Q8_0));
        Assert.Equal((-127, 113, 0), Range(GgmlType.IQ4_NL));

        static (int, int, int) Range(GgmlType type)
        {
            var info = GgmlTypeTraits.Get(type);
            var flush = IntegerPanelKernels.ByteFlushes.ToArray().FirstOrDefault(f => info.IntegerMax - info.IntegerMin <= IntegerPanelKernels.ByteRangeFor(f));
            return (info.IntegerMin, info.IntegerMax, flush);
        }
    }

    [Theory]
    [MemberData(nameof(Types))]
    public unsafe void Batched_products_equal_the_scalar_dot_product_bit_for_bit(GgmlType type)
    {
        // n and m leave partial panels and a partial last call; two threads share the row tiles.
        var info = GgmlTypeTraits.Get(type);
        var activation = GgmlTypeTraits.Get(info.ActivationType);
        const long K = 256;
        const long N = 37;
        const long M = 9;
        var weights = MatMulTestData.RandomWeights(info, K, N, seed: 11);
        var x = MatMulTestData.RandomActivations(K, M, seed: 12);
        var y = new float[M * N];
        using var workspace = new MatMulWorkspace(threadCount: 2);
        fixed (byte* w = weights)
        fixed (float* xs = x)
        fixed (float* ys = y)
        {
            MatMulDriver.Multiply(type, w, K, N, xs, M, ys, workspace);
        }

        var dot = GgmlKernelCatalog.Dot(type, VectorWidth.Scalar)!;
        var rowBytes = (int)info.RowSizeBytes(K);
        for (var t = 0; t < M; t++)
        {
            var quantized = KernelGolden.Quantize(activation.QuantizeActivation!, activation, x.AsSpan((int)(t * K), (int)K).ToArray());
            for (var r = 0; r < N; r++)
            {
                var expected = KernelGolden.Dot(dot, weights.AsSpan(r * rowBytes, rowBytes).ToArray(), quantized, K);
                Assert.True(
                    BitConverter.SingleToInt32Bits(expected) == BitConverter.SingleToInt32Bits(y[(t * N) + r]),
                    $"{type} row {r} activation {t}: product {y[(t * N) + r]} vs scalar dot {expected}");
            }
        }
    }
}
