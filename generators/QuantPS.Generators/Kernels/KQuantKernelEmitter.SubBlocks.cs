using System.Linq;
using QuantPS.Generators.Model;

namespace QuantPS.Generators.Kernels;

/// <summary>
/// The K-quants' DecodeSubBlocks, for the byte super-panels: types whose values are unsigned with no Offset and whose
/// sub-scales are unsigned (Q2_K, Q4_K, Q5_K) keep each value a byte and its sub-scale apart, so the kernel multiplies
/// 64 bytes at a time and applies the sub-scale once per sub-block (see IntegerPanelEmitter.SuperBytes).
/// </summary>
internal sealed partial class KQuantKernelEmitter
{
    /// <summary>The largest value DecodeSubBlocks gives for <paramref name="model"/>, or null when it has none.</summary>
    public override int? SubBlockQuantMax(KernelModel model)
    {
        var sub = model.Layout.Find(FieldKind.SubScales);
        if (!model.HasDot || model.Offset != 0 || sub is null || sub.Signed || sub.ValueOffset != 0)
        {
            return null;
        }

        return (1 << KQuantDecoder.ValueFields(model.Layout).Sum(field => field.Bits)) - 1;
    }

    /// <summary>
    /// Each value as an unsigned byte (the dequantizer's decoding, before any scale), each sub-block's integer scale and
    /// min, and the block's d and dmin.
    /// </summary>
    private static void EmitDecodeSubBlocks(SourceWriter writer, KernelModel model)
    {
        var sub = model.Layout.Find(FieldKind.SubScales)!;
        var withMin = model.Scheme == "SubScaledWithMin";
        const string Signature = "(byte* source, byte* values, short* subScales, short* mins, float* scales, long count)";
        writer
            .Line("/// <summary>Whole super-blocks as unsigned byte values, int16 sub-scales and mins, and (d, dmin) per block.</summary>")
            .Line(Hot)
            .Line($"public static void DecodeSubBlocksRowScalar{Signature}");
        using (writer.Braces())
        {
            EmitSubBlockHeader(writer, model, sub, withMin);
            writer.Line("for (int i = 0; i < BlockSize; i++)");
            using (writer.Braces())
            {
                writer.Line($"v[i] = (byte)({ReferenceEmitter.QuantExpr(model.Layout, "blk", "i")});");
            }

            writer.Line("}");
        }

        writer.Line();
        foreach (var width in Width.All)
        {
            writer
                .Line($"/// <summary>DecodeSubBlocksRowScalar, {width.Bits}-bit vectors.</summary>")
                .Line(Hot)
                .Line($"public static void DecodeSubBlocksRow{width.Suffix}{Signature}");
            using (writer.Braces())
            {
                EmitSubBlockHeader(writer, model, sub, withMin);
                var decoder = new KQuantDecoder(writer, model, width, "blk");
                for (var vec = 0; vec < model.Layout.BlockSize / width.Bytes; vec++)
                {
                    writer.Line($"{decoder.EmitVector(vec)}.Store(v + {Width.Text(vec * width.Bytes)});");
                }

                writer.Line("}");
            }

            writer.Line();
        }

        writer
            .Line("private static readonly global::QuantPS.Kernels.DecodeSubBlocksKernel[] DecodeSubBlocksByWidth = { DecodeSubBlocksRowScalar, DecodeSubBlocksRowV128, DecodeSubBlocksRowV256, DecodeSubBlocksRowV512 };")
            .Line()
            .Line("/// <summary>The DecodeSubBlocks kernel instantiated at <paramref name=\"width\"/>.</summary>")
            .Line("public static global::QuantPS.Kernels.DecodeSubBlocksKernel DecodeSubBlocksAt(global::QuantPS.Kernels.VectorWidth width) => DecodeSubBlocksByWidth[global::QuantPS.Kernels.KernelWidth.Index(width)];")
            .Line()
            .Line("/// <summary>The DecodeSubBlocks kernel at <see cref=\"global::QuantPS.Kernels.KernelWidth.Active\"/>.</summary>")
            .Line("public static readonly global::QuantPS.Kernels.DecodeSubBlocksKernel DecodeSubBlocks = DecodeSubBlocksAt(global::QuantPS.Kernels.KernelWidth.Active);")
            .Line();
    }

    // Opens the loop over blocks (the caller closes it): the block's scales, sub-scales and mins, and v, its values.
    private static void EmitSubBlockHeader(SourceWriter writer, KernelModel model, KernelField sub, bool withMin)
    {
        writer
            .Line("long blocks = count / BlockSize;")
            .Line("for (long b = 0; b < blocks; b++)")
            .Line("{")
            .Line("byte* blk = source + b * TypeSize;")
            .Line("byte* v = values + b * BlockSize;")
            .Line($"byte* sub = {ReferenceEmitter.Address("blk", sub.Offset)};")
            .Line($"scales[2 * b] = {ReferenceEmitter.ScaleExpr(model, "blk")};")
            .Line($"scales[2 * b + 1] = {(withMin ? ReferenceEmitter.MinExpr(model, "blk") : "0f")};")
            .Line($"for (int j = 0; j < {Width.Text(sub.Count)}; j++)")
            .Line("{")
            .Line($"subScales[b * {Width.Text(sub.Count)} + j] = (short)SubScale(sub, j);")
            .Line(withMin ? $"mins[b * {Width.Text(sub.Count)} + j] = (short)SubMin(sub, j);" : "// no mins")
            .Line("}");
    }
}
