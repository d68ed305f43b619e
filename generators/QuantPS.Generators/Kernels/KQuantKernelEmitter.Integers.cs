using QuantPS.Generators.Model;

namespace QuantPS.Generators.Kernels;

/// <summary>The K-quants' DecodeSubScaled: super-blocks as scaled integers for the integer super-panels (see IntegerPanelEmitter).</summary>
internal sealed partial class KQuantKernelEmitter
{
    public override int? SubScaledMins(KernelModel model) =>
        model.HasDot ? model.Scheme == "SubScaledWithMin" ? model.Layout.Find(FieldKind.SubScales)!.Count : 0 : null;

    /// <summary>
    /// Each value times its sub-block's integer scale (at most 128 x 32 in size, so int16), each sub-block's integer min,
    /// and the block's d and dmin: the integer sums the scalar dot product forms per super-block come out of these
    /// exactly (sum of value x activation, and of min x the sub-block's activation sum).
    /// </summary>
    private static void EmitDecodeSubScaled(SourceWriter writer, KernelModel model)
    {
        var layout = model.Layout;
        var sub = layout.Find(FieldKind.SubScales)!;
        var group = layout.BlockSize / sub.Count;
        var withMin = model.Scheme == "SubScaledWithMin";
        var scales = ReferenceEmitter.Address("block", sub.Offset);
        writer
            .Line("/// <summary>Whole super-blocks as sub-scaled int16 values, int16 sub-block mins and (d, dmin) per block.</summary>")
            .Line(Hot)
            .Line("public static void DecodeSubScaledRowScalar(byte* source, short* values, short* mins, float* scales, long count)");
        using (writer.Braces())
        {
            writer.Line("long blocks = count / BlockSize;").Line("for (long b = 0; b < blocks; b++)");
            using (writer.Braces())
            {
                writer
                    .Line("byte* block = source + b * TypeSize;")
                    .Line("short* v = values + b * BlockSize;")
                    .Line($"scales[2 * b] = {ReferenceEmitter.ScaleExpr(model, "block")};")
                    .Line($"scales[2 * b + 1] = {(withMin ? ReferenceEmitter.MinExpr(model, "block") : "0f")};")
                    .Line($"for (int j = 0; j < {Width.Text(sub.Count)}; j++)");
                using (writer.Braces())
                {
                    writer.Line($"int scale = SubScale({scales}, j);");
                    if (withMin)
                    {
                        writer.Line($"mins[b * {Width.Text(sub.Count)} + j] = (short)SubMin({scales}, j);");
                    }

                    writer.Line($"for (int i = j * {Width.Text(group)}; i < (j + 1) * {Width.Text(group)}; i++)");
                    using (writer.Braces())
                    {
                        var q = ReferenceEmitter.QuantExpr(layout, "block", "i");
                        writer.Line($"v[i] = (short)(scale * {(model.Offset == 0 ? q : $"({q} + {Width.Text(model.Offset)})")});");
                    }
                }
            }
        }

        writer.Line();
        foreach (var width in Width.All)
        {
            EmitDecodeSubScaledVector(writer, model, width);
        }

        writer
            .Line("private static readonly global::QuantPS.Kernels.DecodeSubScaledKernel[] DecodeSubScaledByWidth = { DecodeSubScaledRowScalar, DecodeSubScaledRowV128, DecodeSubScaledRowV256, DecodeSubScaledRowV512 };")
            .Line()
            .Line("/// <summary>The DecodeSubScaled kernel instantiated at <paramref name=\"width\"/>.</summary>")
            .Line("public static global::QuantPS.Kernels.DecodeSubScaledKernel DecodeSubScaledAt(global::QuantPS.Kernels.VectorWidth width) => DecodeSubScaledByWidth[global::QuantPS.Kernels.KernelWidth.Index(width)];")
            .Line()
            .Line("/// <summary>The DecodeSubScaled kernel at <see cref=\"global::QuantPS.Kernels.KernelWidth.Active\"/>.</summary>")
            .Line("public static readonly global::QuantPS.Kernels.DecodeSubScaledKernel DecodeSubScaled = DecodeSubScaledAt(global::QuantPS.Kernels.KernelWidth.Active);")
            .Line();
    }

    /// <summary>
    /// DecodeSubScaledRowScalar at <paramref name="width"/>: the dequantizer's value decoding (<see cref="KQuantDecoder"/>),
    /// widened to int16 and multiplied by the sub-scales (scalar per super-block, broadcast per sub-block).
    /// </summary>
    private static void EmitDecodeSubScaledVector(SourceWriter writer, KernelModel model, Width width)
    {
        var layout = model.Layout;
        var sub = layout.Find(FieldKind.SubScales)!;
        var group = layout.BlockSize / sub.Count;
        var withMin = model.Scheme == "SubScaledWithMin";
        var half = width.Bytes / 2;
        writer
            .Line($"/// <summary>DecodeSubScaledRowScalar, {width.Bits}-bit vectors.</summary>")
            .Line(Hot)
            .Line($"public static void DecodeSubScaledRow{width.Suffix}(byte* source, short* values, short* mins, float* scales, long count)");
        using (writer.Braces())
        {
            writer.Line("long blocks = count / BlockSize;").Line("for (long b = 0; b < blocks; b++)");
            using (writer.Braces())
            {
                writer
                    .Line("byte* blk = source + b * TypeSize;")
                    .Line("short* v = values + b * BlockSize;")
                    .Line($"byte* sub = {ReferenceEmitter.Address("blk", sub.Offset)};")
                    .Line($"scales[2 * b] = {ReferenceEmitter.ScaleExpr(model, "blk")};")
                    .Line($"scales[2 * b + 1] = {(withMin ? ReferenceEmitter.MinExpr(model, "blk") : "0f")};");
                for (var j = 0; j < sub.Count; j++)
                {
                    writer.Line($"short s{j} = (short)SubScale(sub, {j});");
                    if (withMin)
                    {
                        writer.Line($"mins[b * {Width.Text(sub.Count)} + {j}] = (short)SubMin(sub, {j});");
                    }
                }

                var decoder = new KQuantDecoder(writer, model, width, "blk");
                for (var vec = 0; vec < layout.BlockSize / width.Bytes; vec++)
                {
                    var u = decoder.EmitVector(vec);
                    var q = model.Offset == 0 ? $"{u}.AsSByte()" : $"({u}.AsSByte() + {width.Vec}.Create((sbyte){Width.Text(model.Offset)}))";
                    writer.Line($"var q{vec} = {q};");
                    foreach (var (part, widen) in new[] { (0, "WidenLower"), (1, "WidenUpper") })
                    {
                        var first = (vec * width.Bytes) + (part * half);
                        writer.Line($"({width.Vec}.{widen}(q{vec}) * {SubScaleLanes(width, first, half, group)}).Store(v + {Width.Text(first)});");
                    }
                }
            }
        }

        writer.Line();
    }

    // The int16 sub-scales of values [first, first + count): one broadcast, or two halves at 512 bits over sub-blocks of 16.
    private static string SubScaleLanes(Width width, int first, int count, int group)
    {
        var low = first / group;
        var high = (first + count - 1) / group;
        return low == high ? $"{width.Vec}.Create(s{low})" : $"{width.Vec}.Create({width.HalfVec}.Create(s{low}), {width.HalfVec}.Create(s{high}))";
    }
}
