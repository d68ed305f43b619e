using System;
using QuantPS.Generators.Model;

namespace QuantPS.Generators.Kernels;

/// <summary>
/// The scalar reference dequantizer, written straight from the description one value at a time: the
/// oracle the vector widths are tested against. Also the scalar expressions (scale, quant i) that the
/// families' scalar fallbacks reuse.
/// </summary>
internal static class ReferenceEmitter
{
    public static void Emit(SourceWriter writer, KernelModel model)
    {
        writer
            .Line($"/// <summary>Scalar reference: value i of each block rebuilt as the description says ({model.Scheme}).</summary>")
            .Line(KernelFamily.Hot)
            .Line("public static void DequantizeReferenceRow(byte* source, float* destination, long count)");
        using (writer.Braces())
        {
            if (model.Scheme == "Element")
            {
                writer.Line("for (long i = 0; i < count; i++)");
                using (writer.Braces())
                {
                    writer.Line($"destination[i] = {ElementExpr(model, "source + i * " + Width.Text(model.Layout.TypeSize))};");
                }

                return;
            }

            writer.Line("long blocks = count / BlockSize;");
            writer.Line("for (long b = 0; b < blocks; b++)");
            using (writer.Braces())
            {
                writer
                    .Line("byte* block = source + b * TypeSize;")
                    .Line("float* y = destination + b * BlockSize;")
                    .Line($"float d = {ScaleExpr(model, "block", exact: true)};");
                if (model.Scheme == "ScaledWithMin")
                {
                    writer.Line($"float m = {ScalarField(model.Layout.Find(FieldKind.Min)!, "block", exact: true)};");
                }

                writer.Line("for (int i = 0; i < BlockSize; i++)");
                using (writer.Braces())
                {
                    writer.Line($"int q = {QuantExpr(model.Layout, "block", "i")};");
                    writer.Line("y[i] = " + (model.Scheme switch
                    {
                        "Codebook" => "d * CodebookTable[q];",
                        "ScaledWithMin" => OffsetQ(model) + " * d + m;",
                        _ => OffsetQ(model) + " * d;",
                    }));
                }
            }
        }

        writer.Line();
    }

    /// <summary>The element at <paramref name="address"/> as a float.</summary>
    public static string ElementExpr(KernelModel model, string address) => model.Layout.Fields[0].Format switch
    {
        "F16" => $"global::QuantPS.Kernels.FloatConversions.HalfToSingle(Unsafe.ReadUnaligned<ushort>({address}))",
        "BF16" => $"global::QuantPS.Kernels.FloatConversions.BFloat16ToSingle(Unsafe.ReadUnaligned<ushort>({address}))",
        _ => $"Unsafe.ReadUnaligned<float>({address})",
    };

    /// <summary>
    /// The block scale as a float, with a codebook's power-of-two multiplier folded in. Kernels use the
    /// branch-free Simd conversion; the reference (<paramref name="exact"/>) ggml's own algorithm, so the two are independent.
    /// </summary>
    public static string ScaleExpr(KernelModel model, string block, bool exact = false)
    {
        var scale = model.Layout.Find(FieldKind.Scale)!;
        var at = Address(block, scale.Offset);
        var multiplier = model.CodebookLog2Multiplier == 0 ? "" : " * " + Math.Pow(2, model.CodebookLog2Multiplier).ToString("R", System.Globalization.CultureInfo.InvariantCulture) + "f";
        return scale.Format switch
        {
            "E8M0" => $"Simd.E8M0ToSingle({at}[0], {Width.Text(model.CodebookLog2Multiplier)})",
            "F32" => $"Unsafe.ReadUnaligned<float>({at})" + multiplier,
            _ => (exact ? HalfExact(at) : $"Simd.ReadHalf({at})") + multiplier,
        };
    }

    public static string MinExpr(KernelModel model, string block) => ScalarField(model.Layout.Find(FieldKind.Min)!, block);

    /// <summary>An F16/F32 scalar field of any layout.</summary>
    public static string ScalarField(KernelField field, string block, bool exact = false) => field.Format == "F32"
        ? $"Unsafe.ReadUnaligned<float>({Address(block, field.Offset)})"
        : exact ? HalfExact(Address(block, field.Offset)) : $"Simd.ReadHalf({Address(block, field.Offset)})";

    private static string HalfExact(string address) =>
        $"global::QuantPS.Kernels.FloatConversions.HalfToSingle(Unsafe.ReadUnaligned<ushort>({address}))";

    /// <summary>Quant <paramref name="i"/> with its high bits, before Offset or codebook.</summary>
    public static string QuantExpr(LayoutModel layout, string block, string i)
    {
        var quants = layout.Find(FieldKind.Quants)!;
        var text = Packed(quants, block, i);
        var shift = quants.Bits;
        foreach (var plane in layout.Fields)
        {
            if (plane.Kind == FieldKind.HighBits)
            {
                text = $"({text} | ({Packed(plane, block, i)} << {Width.Text(shift)}))";
                shift += plane.Bits;
            }
        }

        return text;
    }

    /// <summary>The int8 weight of value <paramref name="i"/> as integer dot products use it.</summary>
    public static string WeightIntExpr(KernelModel model, string block, string i) => model.Scheme == "Codebook"
        ? $"CodebookTable[{QuantExpr(model.Layout, block, i)}]"
        : model.Offset == 0 ? QuantExpr(model.Layout, block, i) : $"({QuantExpr(model.Layout, block, i)} + {Width.Text(model.Offset)})";

    public static string Address(string block, int offset) => offset == 0 ? block : $"{block} + {Width.Text(offset)}";

    private static string OffsetQ(KernelModel model) => model.Offset == 0 ? "q" : $"(q + {Width.Text(model.Offset)})";

    /// <summary>Item <paramref name="i"/> of a packed field, by its order.</summary>
    private static string Packed(KernelField field, string block, string i)
    {
        var at = Address(block, field.Offset);
        if (field.Bits == 8)
        {
            return field.Signed ? $"(sbyte)({at})[{i}]" : $"({at})[{i}]";
        }

        var mask = Width.Text((1 << field.Bits) - 1);
        if (field.Order == "SplitHalves")
        {
            var half = Width.Text(field.Count / 2);
            return $"((({at})[{i} % {half}] >> (4 * ({i} / {half}))) & {mask})";
        }

        // Sequential items of 1, 2 or 4 bits, lowest bits first.
        var perByte = Width.Text(8 / field.Bits);
        return $"((({at})[{i} / {perByte}] >> ({Width.Text(field.Bits)} * ({i} % {perByte}))) & {mask})";
    }
}
