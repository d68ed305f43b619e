using System.Reflection;
using Microsoft.CodeAnalysis;

namespace QuantPS.Generators.Tests;

/// <summary>The emitted kernels run: every width gives its reference's values (the real formats and a grid sample).</summary>
public sealed partial class KernelEmitterTests
{
    [Fact]
    public unsafe void A_sample_grid_description_runs_at_every_width_as_its_reference_does()
    {
        var (result, output) = GeneratorHarness.Run(GridSamples.Source);
        Assert.Empty(result.Diagnostics);
        var text = GeneratorHarness.GeneratedText(result, "QuantPS.Kernels.Generated.IQ2_TKernels.g.cs");
        Assert.Contains("float dl = d * (2 * Bits(block, 400 + (i / 32) * 4, 4) + 1) * 0.5f;", text);
        Assert.Contains("int g = GridTable[(Bits(block, 16 + (i / 8) * 4, 4)) * 8 + i % 8];", text);
        Assert.Contains("y[i] = dl * (Bits(block, 144 + (i) * 1, 1) != 0 ? -g : g);", text);

        var assembly = Load(output, "grid-sample");
        var kernels = assembly.GetType("QuantPS.Kernels.Generated.IQ2_TKernels")!;
        var random = new Random(5);
        var row = new byte[54 * 2];
        random.NextBytes(row);
        BitConverter.TryWriteBytes(row.AsSpan(0), (ushort)0x3C00);  // 1.0
        BitConverter.TryWriteBytes(row.AsSpan(54), (ushort)0x2C00); // 1/16
        var reference = Dequantize(kernels, "DequantizeReferenceRow", row, 512);

        // Value 37 by hand: entry Qs[4] low nibble, sign bit 37, scale nibble 1 (values 32-63), times 0.5.
        var index = row[2 + 2] & 15;
        var g = ((37 % 8) + (index * 3 % 15)) % 15 + 1;
        var negative = ((row[18 + 4] >> 5) & 1) != 0;
        var s = (row[50] >> 4) & 15;
        Assert.Equal((float)(2 * s + 1) * 0.5f * (negative ? -g : g), reference[37]);

        foreach (var width in Widths)
        {
            Assert.Equal(reference, Dequantize(kernels, "DequantizeRow" + width, row, 512));
        }
    }

    [Theory]
    [InlineData("Q1_0")]
    [InlineData("Q2_0")]
    [InlineData("NVFP4")]
    public unsafe void Every_sub_byte_width_computes_what_the_reference_does(string type)
    {
        var assembly = RealFormats.Value;
        var kernels = assembly.GetType($"QuantPS.Kernels.Generated.{type}Kernels")!;
        var activationKernels = assembly.GetType("QuantPS.Kernels.Generated.Q8_0Kernels")!;
        var blockSize = (int)kernels.GetField("BlockSize")!.GetValue(null)!;
        var typeSize = (int)kernels.GetField("TypeSize")!.GetValue(null)!;
        var blocks = 5;
        var count = (long)blockSize * blocks;
        var random = new Random(12);
        var row = new byte[typeSize * blocks];
        random.NextBytes(row);
        for (var b = 0; b < blocks; b++)
        {
            BitConverter.TryWriteBytes(row.AsSpan(b * typeSize), (ushort)0x2C00);
        }

        var floats = Enumerable.Range(0, (int)count).Select(_ => (float)(random.NextDouble() - 0.5)).ToArray();
        var act = new byte[34 * (count / 32)];
        fixed (float* source = floats)
        fixed (byte* destination = act)
        {
            Invoke(activationKernels, "QuantizeRowScalar", (nint)source, (nint)destination, count);
        }

        var reference = Dequantize(kernels, "DequantizeReferenceRow", row, count);
        var activations = Dequantize(activationKernels, "DequantizeReferenceRow", act, count);
        double exact = 0, magnitude = 0;
        for (var i = 0; i < count; i++)
        {
            exact += (double)reference[i] * activations[i];
            magnitude += Math.Abs((double)reference[i] * activations[i]);
        }

        var scalarDot = Dot(kernels, "DotScalar", row, act, count);
        Assert.True(Math.Abs(scalarDot - exact) <= 1e-5 * magnitude, $"{type} scalar dot {scalarDot}, float64 {exact}");
        foreach (var width in Widths)
        {
            Assert.Equal(reference, Dequantize(kernels, "DequantizeRow" + width, row, count));
            var dot = Dot(kernels, "Dot" + width, row, act, count);
            Assert.True(Math.Abs(dot - scalarDot) <= 1e-5 * magnitude, $"{type} {width}: {dot} vs scalar {scalarDot}");
        }
    }

    [Theory]
    [InlineData("Q2_K", 80, 82)]
    [InlineData("Q3_K", 108, -1)]
    [InlineData("Q4_K", 0, 2)]
    [InlineData("Q5_K", 0, 2)]
    [InlineData("Q6_K", 208, -1)]
    [InlineData("TQ2_0", 64, -1)]
    [InlineData("IQ4_XS", 0, -1)]
    [InlineData("TQ1_0", 52, -1)]
    [InlineData("IQ2_XXS", 0, -1)]
    [InlineData("IQ2_XS", 0, -1)]
    [InlineData("IQ2_S", 0, -1)]
    [InlineData("IQ3_XXS", 0, -1)]
    [InlineData("IQ3_S", 0, -1)]
    [InlineData("IQ1_S", 0, -1)]
    [InlineData("IQ1_M", -1, -1)]
    public unsafe void Every_k_quant_width_computes_what_the_reference_does(string type, int scaleOffset, int minOffset)
    {
        var assembly = RealFormats.Value;
        var kernels = assembly.GetType($"QuantPS.Kernels.Generated.{type}Kernels")!;
        var activationKernels = assembly.GetType("QuantPS.Kernels.Generated.Q8_KKernels")!;
        var blocks = 3;
        var count = 256L * blocks;
        var random = new Random(11);

        // Random bytes are valid super-blocks once their F16 scales are finite (here 1/16 and 1/32).
        var typeSize = (int)kernels.GetField("TypeSize")!.GetValue(null)!;
        var row = new byte[typeSize * blocks];
        random.NextBytes(row);
        for (var b = 0; b < blocks; b++)
        {
            if (scaleOffset < 0)
            {
                // IQ1_M: the F16 bits are the top nibbles of the four Scales words (from byte 48).
                for (var k = 0; k < 4; k++)
                {
                    row[(b * typeSize) + 48 + (2 * k) + 1] = (byte)((row[(b * typeSize) + 48 + (2 * k) + 1] & 0x0F) | (((0x2C00 >> (4 * k)) & 0xF) << 4));
                }

                continue;
            }

            BitConverter.TryWriteBytes(row.AsSpan((b * typeSize) + scaleOffset), (ushort)0x2C00);
            if (minOffset >= 0)
            {
                BitConverter.TryWriteBytes(row.AsSpan((b * typeSize) + minOffset), (ushort)0x2800);
            }
        }

        var floats = Enumerable.Range(0, (int)count).Select(_ => (float)(random.NextDouble() - 0.5)).ToArray();
        var act = new byte[292 * blocks];
        fixed (float* source = floats)
        fixed (byte* destination = act)
        {
            Invoke(activationKernels, "QuantizeRowScalar", (nint)source, (nint)destination, count);
        }

        var reference = Dequantize(kernels, "DequantizeReferenceRow", row, count);
        var activations = Dequantize(activationKernels, "DequantizeReferenceRow", act, count);
        double exact = 0, magnitude = 0;
        for (var i = 0; i < count; i++)
        {
            exact += (double)reference[i] * activations[i];
            magnitude += Math.Abs((double)reference[i] * activations[i]);
        }

        var scalarDot = Dot(kernels, "DotScalar", row, act, count);
        Assert.True(Math.Abs(scalarDot - exact) <= 1e-5 * magnitude, $"{type} scalar dot {scalarDot}, float64 {exact}");
        foreach (var width in Widths)
        {
            Assert.Equal(reference, Dequantize(kernels, "DequantizeRow" + width, row, count));
            var dot = Dot(kernels, "Dot" + width, row, act, count);
            Assert.True(Math.Abs(dot - scalarDot) <= 1e-5 * magnitude, $"{type} {width}: {dot} vs scalar {scalarDot}");
        }
    }
}
