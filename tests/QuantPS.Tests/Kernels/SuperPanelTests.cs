using QuantPS.Kernels;
using QuantPS.Kernels.Generated;
using Xunit;

namespace QuantPS.Tests.Kernels;

/// <summary>
/// The K-quants' super-panels: DecodeSubScaled gives the same integers at every width and (d, dmin) times them is the
/// dequantized value within a float rounding; a super-panel product equals the scalar dot product bit for bit at every
/// width, on llama.cpp's golden rows against Q8_K activations.
/// </summary>
public sealed class SuperPanelTests
{
    public static TheoryData<string, string> Cases()
    {
        var data = new TheoryData<string, string>();
        foreach (var type in KernelGolden.WeightTypes.Where(name => KernelGolden.Info(name).DecodeSubScaled is not null))
        foreach (var width in KernelWidth.All)
        {
            data.Add(type, width.ToString());
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public unsafe void Sub_scaled_integers_are_the_same_at_every_width_and_rebuild_the_values(string ggmlName, string widthName)
    {
        var width = Enum.Parse<VectorWidth>(widthName);
        var info = KernelGolden.Info(ggmlName);
        const int Count = KernelGolden.Columns;
        var mins = Math.Max(1, info.SubScaledMins);
        var rows = KernelGolden.Bytes($"{ggmlName}/{KernelGolden.GoldenVariants(ggmlName)[0]}.bin");
        for (var row = 0; row < KernelGolden.Rows; row++)
        {
            var bytes = KernelGolden.Row(rows, info, row);
            var (values, minValues, scales) = Decode(GgmlKernelCatalogDecode(info.Type, width), bytes, Count, mins);
            var (expectedValues, expectedMins, expectedScales) = Decode(GgmlKernelCatalogDecode(info.Type, VectorWidth.Scalar), bytes, Count, mins);
            Assert.Equal(expectedValues, values);
            Assert.Equal(expectedScales, scales);
            if (info.SubScaledMins > 0)
            {
                Assert.Equal(expectedMins, minValues);
            }

            var dequantized = KernelGolden.Dequantize(info.DequantizeReference!, bytes, Count);
            for (var i = 0; i < Count; i++)
            {
                var b = i / 256;
                var min = info.SubScaledMins == 0 ? 0f : scales[(2 * b) + 1] * minValues[(b * info.SubScaledMins) + ((i % 256) / (256 / info.SubScaledMins))];
                var rebuilt = (scales[2 * b] * values[i]) - min;
                Assert.True(Math.Abs(rebuilt - dequantized[i]) <= 1e-6f * Math.Max(1f, Math.Abs(dequantized[i])), $"{ggmlName} {width} row {row} value {i}: {rebuilt} vs {dequantized[i]}");
            }
        }
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public unsafe void A_super_panel_product_is_the_scalar_dot_product_bit_for_bit(string ggmlName, string widthName)
    {
        var width = Enum.Parse<VectorWidth>(widthName);
        var info = KernelGolden.Info(ggmlName);
        var activation = GgmlTypeTraits.Get(info.ActivationType);
        const int Count = KernelGolden.Columns;
        const int Blocks = Count / 256;
        var lanes = IntegerPanelKernels.LanesAt(width);
        var tokens = IntegerPanelKernels.Tokens;
        var rows = Math.Min(lanes, KernelGolden.Rows);
        var minUnits = info.SubScaledMins / 2;
        var sums = 2 * minUnits;
        var weights = KernelGolden.Bytes($"{ggmlName}/{KernelGolden.GoldenVariants(ggmlName)[0]}.bin");

        // Activation rows as the driver lays them out: int16 values, a float d per block, the sub-block sums (int16).
        var golden = PanelActivations.Golden(activation, tokens, Count);
        var stride = Count + (2 * Blocks) + (sums * Blocks);
        var quantizedRows = new byte[tokens][];
        var prepared = new short[tokens * stride];
        for (var t = 0; t < tokens; t++)
        {
            var (quantized, values, scales) = golden[t];
            quantizedRows[t] = quantized;

            var row = prepared.AsSpan(t * stride, stride);
            for (var i = 0; i < Count; i++)
            {
                row[i] = values[i];
            }

            scales.AsSpan().CopyTo(System.Runtime.InteropServices.MemoryMarshal.Cast<short, float>(row.Slice(Count, 2 * Blocks)));
            for (var i = 0; sums > 0 && i < Count / (256 / sums); i++)
            {
                row[Count + (2 * Blocks) + i] = (short)values.AsSpan(i * (256 / sums), 256 / sums).ToArray().Sum(value => (int)value);
            }
        }

        var decodedValues = new short[lanes * Count];
        var decodedMins = new short[lanes * Math.Max(1, sums * Blocks)];
        var decodedScales = new float[lanes * 2 * Blocks];
        var panel = new int[Blocks * IntegerPanelKernels.SuperBlockInts(minUnits) * lanes];
        var results = new float[tokens * lanes];
        var decode = GgmlKernelCatalogDecode(info.Type, width);
        fixed (byte* w = weights)
        fixed (short* v = decodedValues)
        fixed (short* m = decodedMins)
        fixed (float* s = decodedScales)
        fixed (int* p = panel)
        fixed (short* a = prepared)
        fixed (float* y = results)
        {
            for (var r = 0; r < rows; r++)
            {
                decode(w + (r * info.RowSizeBytes(Count)), v + (r * Count), m + (r * sums * Blocks), s + (r * 2 * Blocks), Count);
            }

            IntegerPanelKernels.PackSuperPanelAt(width, v, Count, m, sums * Blocks, s, 2 * Blocks, Blocks, p, minUnits);
            IntegerPanelKernels.SuperPanelTileAt(width, minUnits)(Blocks, p, a, stride, y, lanes);
        }

        var dot = GgmlKernelCatalog.Dot(info.Type, VectorWidth.Scalar)!;
        for (var t = 0; t < tokens; t++)
        {
            for (var r = 0; r < lanes; r++)
            {
                var expected = r < rows ? KernelGolden.Dot(dot, KernelGolden.Row(weights, info, r), quantizedRows[t], Count) : 0f;
                Assert.True(
                    BitConverter.SingleToInt32Bits(expected) == BitConverter.SingleToInt32Bits(results[(t * lanes) + r]),
                    $"{ggmlName} {width} row {r} activation {t}: super-panel {results[(t * lanes) + r]} vs scalar dot {expected}");
            }
        }
    }

    public static TheoryData<string, string> ByteCases()
    {
        var data = new TheoryData<string, string>();
        foreach (var type in KernelGolden.WeightTypes.Where(name => KernelGolden.Info(name).DecodeSubBlocks is not null))
        foreach (var width in KernelWidth.All)
        {
            data.Add(type, width.ToString());
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(ByteCases))]
    public unsafe void A_byte_super_panel_product_is_the_scalar_dot_product_bit_for_bit(string ggmlName, string widthName)
    {
        var width = Enum.Parse<VectorWidth>(widthName);
        var info = KernelGolden.Info(ggmlName);
        var activation = GgmlTypeTraits.Get(info.ActivationType);
        const int Count = KernelGolden.Columns;
        const int Blocks = Count / 256;
        var lanes = IntegerPanelKernels.LanesAt(width);
        var tokens = IntegerPanelKernels.Tokens;
        var rows = Math.Min(lanes, KernelGolden.Rows);
        var subBlocks = info.SubScaledMins;
        var subBlock = 256 / subBlocks;
        var minUnits = subBlocks / 2;
        var flush = Math.Min(subBlock / 4, IntegerPanelKernels.ByteFlushes.ToArray().First(f => info.SubBlockQuantMax <= IntegerPanelKernels.ByteRangeFor(f)));
        var kernel = IntegerPanelKernels.SuperBytePanelTileAt(width, subBlock, flush, minUnits);
        Assert.NotNull(kernel);
        var weights = KernelGolden.Bytes($"{ggmlName}/{KernelGolden.GoldenVariants(ggmlName)[0]}.bin");

        // Activation rows as the driver lays them out: int8 values, a float d per block, the sub-block sums (int16).
        var golden = PanelActivations.Golden(activation, tokens, Count);
        var stride = Count + (4 * Blocks) + (2 * subBlocks * Blocks);
        var quantizedRows = new byte[tokens][];
        var prepared = new byte[tokens * stride];
        for (var t = 0; t < tokens; t++)
        {
            var (quantized, values, scales) = golden[t];
            quantizedRows[t] = quantized;

            var row = prepared.AsSpan(t * stride, stride);
            System.Runtime.InteropServices.MemoryMarshal.AsBytes(values.AsSpan()).CopyTo(row);
            scales.AsSpan().CopyTo(System.Runtime.InteropServices.MemoryMarshal.Cast<byte, float>(row.Slice(Count, 4 * Blocks)));
            var sums = System.Runtime.InteropServices.MemoryMarshal.Cast<byte, short>(row[(Count + (4 * Blocks))..]);
            for (var i = 0; i < Count / subBlock; i++)
            {
                sums[i] = (short)values.AsSpan(i * subBlock, subBlock).ToArray().Sum(value => (int)value);
            }
        }

        var subs = subBlocks * Blocks;
        var decodedValues = new byte[lanes * Count];
        var subScales = new short[lanes * subs];
        var mins = new short[lanes * subs];
        var decodedScales = new float[lanes * 2 * Blocks];
        var panel = new int[Blocks * IntegerPanelKernels.SuperByteBlockInts(subBlock, minUnits) * lanes];
        var results = new float[tokens * lanes];
        var decode = GgmlKernelCatalog.DecodeSubBlocks(info.Type, width)!;
        fixed (byte* w = weights)
        fixed (byte* v = decodedValues)
        fixed (short* sc = subScales)
        fixed (short* m = mins)
        fixed (float* s = decodedScales)
        fixed (int* p = panel)
        fixed (byte* a = prepared)
        fixed (float* y = results)
        {
            for (var r = 0; r < rows; r++)
            {
                decode(w + (r * info.RowSizeBytes(Count)), v + (r * Count), sc + (r * subs), m + (r * subs), s + (r * 2 * Blocks), Count);
            }

            IntegerPanelKernels.PackSuperBytePanelAt(width, v, Count, sc, m, subs, s, 2 * Blocks, Blocks, p, subBlock, minUnits);
            kernel!(Blocks, p, (sbyte*)a, stride, 0, y, lanes);
        }

        var dot = GgmlKernelCatalog.Dot(info.Type, VectorWidth.Scalar)!;
        for (var t = 0; t < tokens; t++)
        {
            for (var r = 0; r < lanes; r++)
            {
                var expected = r < rows ? KernelGolden.Dot(dot, KernelGolden.Row(weights, info, r), quantizedRows[t], Count) : 0f;
                Assert.True(
                    BitConverter.SingleToInt32Bits(expected) == BitConverter.SingleToInt32Bits(results[(t * lanes) + r]),
                    $"{ggmlName} {width} row {r} activation {t}: byte super-panel {results[(t * lanes) + r]} vs scalar dot {expected}");
            }
        }
    }

    private static DecodeSubScaledKernel GgmlKernelCatalogDecode(GgmlType type, VectorWidth width) => GgmlKernelCatalog.DecodeSubScaled(type, width)!;

    private static unsafe (short[] Values, short[] Mins, float[] Scales) Decode(DecodeSubScaledKernel decode, byte[] bytes, int count, int mins)
    {
        var values = new short[count];
        var minValues = new short[count / 256 * mins];
        var scales = new float[2 * (count / 256)];
        fixed (byte* source = bytes)
        fixed (short* v = values)
        fixed (short* m = minValues)
        fixed (float* s = scales)
        {
            decode(source, v, m, s, count);
        }

        return (values, minValues, scales);
    }
}
