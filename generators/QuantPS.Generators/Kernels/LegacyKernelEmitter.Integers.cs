using QuantPS.Generators.Model;

namespace QuantPS.Generators.Kernels;

/// <summary>The legacy family's DecodeIntegers at each width: the integer panels' decoder (see IntegerPanelEmitter).</summary>
internal sealed partial class LegacyKernelEmitter
{
    /// <summary>
    /// Whole blocks as int8 weights and one float scale each, a step of chunks at a time with the dequantizer's
    /// decoding (values before they are widened and scaled); leftover blocks go through the scalar member.
    /// </summary>
    private static void EmitDecodeIntegers(SourceWriter writer, KernelModel model, WeightPlan plan, Width width)
    {
        var steps = ChunksPerStep(width);
        if (model.Layout.BlockSize != Chunk)
        {
            // Q8_K: activations only, decoded once per product, so the scalar member does.
            writer
                .Line($"/// <summary>DecodeIntegersRowScalar (blocks of several chunks, one scale each).</summary>")
                .Line($"public static void DecodeIntegersRow{width.Suffix}(byte* source, sbyte* values, float* scales, long count) => DecodeIntegersRowScalar(source, values, scales, count);")
                .Line();
            return;
        }

        writer
            .Line($"/// <summary>DecodeIntegersRowScalar, {Width.Text(steps)} blocks per step, {width.Bits}-bit vectors.</summary>")
            .Line(Hot)
            .Line($"public static void DecodeIntegersRow{width.Suffix}(byte* source, sbyte* values, float* scales, long count)");
        using (writer.Braces())
        {
            writer.Line($"long chunks = count / {Chunk};");
            if (model.Scheme == "Codebook")
            {
                writer.Line($"var book = Simd.Broadcast{width.Suffix}(Codebook);");
            }

            writer.Line("long g = 0;").Line("byte* row = source;")
                .Line($"for (; g + {Width.Text(steps - 1)} < chunks; g += {Width.Text(steps)}, row += {StepBytes(model, width)})");
            using (writer.Braces())
            {
                EmitPointers(writer, model, width, "row");
                writer.Line($"var xs = {ScaleLanes(model, steps)};");
                for (var k = 0; k < steps; k++)
                {
                    writer.Line($"scales[g + {Width.Text(k)}] = xs.GetElement({Width.Text(k)});");
                }

                var weights = EmitWeights(writer, model, plan, width, forDot: false);
                for (var r = 0; r < weights.Count; r++)
                {
                    writer.Line($"{weights[r]}.Store(values + g * {Chunk} + {Width.Text(r * width.Bytes)});");
                }
            }

            writer.Line("if (g < chunks)");
            using (writer.Braces())
            {
                writer.Line($"DecodeIntegersRowScalar(source + g * TypeSize, values + g * {Chunk}, scales + g, (chunks - g) * {Chunk});");
            }
        }

        writer.Line();
    }
}
