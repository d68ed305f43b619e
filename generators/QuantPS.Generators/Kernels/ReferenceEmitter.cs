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
        if (model.Grid is not null)
        {
            GridReferenceEmitter.Emit(writer, model);
            return;
        }

        EmitMethod(writer, model);
        if (model.Layout.Find(FieldKind.Trits) is not null)
        {
            EmitTritHelper(writer, model.Layout);
        }

        if (model.Scheme is "SubScaled" or "SubScaledWithMin" or "SubScaledCodebook" && model.Layout.Find(FieldKind.Scale) is not null)
        {
            writer.Line();
            EmitSubScaleHelpers(writer, model);
        }
    }

    private static void EmitMethod(SourceWriter writer, KernelModel model)
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

            if (model.Scheme is "SubScaled" or "SubScaledWithMin" or "SubScaledCodebook")
            {
                EmitSubScaledBody(writer, model);
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

    /// <summary>Sub-block scales: d * s[j] and dmin * m[j] per sub-block, then value by value (ggml's order of float operations).</summary>
    private static void EmitSubScaledBody(SourceWriter writer, KernelModel model)
    {
        var sub = model.Layout.Find(FieldKind.SubScales)!;
        var group = model.Layout.BlockSize / sub.Count;
        var withMin = model.Scheme == "SubScaledWithMin";
        writer.Line("long blocks = count / BlockSize;");
        writer.Line("for (long b = 0; b < blocks; b++)");
        using (writer.Braces())
        {
            writer
                .Line("byte* block = source + b * TypeSize;")
                .Line("float* y = destination + b * BlockSize;");
            if (model.Layout.Find(FieldKind.Scale) is null)
            {
                // UE4M3 sub-scales (NVFP4): each is the sub-block's whole scale, the codebook's multiplier folded in.
                writer.Line($"for (int j = 0; j < {Width.Text(sub.Count)}; j++)");
                using (writer.Braces())
                {
                    writer.Line($"float dl = {SubScaleFloat(model, "block", "j")};")
                        .Line($"for (int i = j * {Width.Text(group)}; i < (j + 1) * {Width.Text(group)}; i++)");
                    using (writer.Braces())
                    {
                        writer.Line($"int q = {QuantExpr(model.Layout, "block", "i")};").Line("y[i] = dl * CodebookTable[q];");
                    }
                }

                return;
            }

            writer.Line($"float d = {ScaleExpr(model, "block", exact: true)};");
            if (withMin)
            {
                writer.Line($"float dmin = {ScalarField(model.Layout.Find(FieldKind.Min)!, "block", exact: true)};");
            }

            writer.Line($"for (int j = 0; j < {Width.Text(sub.Count)}; j++)");
            using (writer.Braces())
            {
                writer.Line($"float dl = d * SubScale({Address("block", sub.Offset)}, j);");
                if (withMin)
                {
                    writer.Line($"float ml = dmin * SubMin({Address("block", sub.Offset)}, j);");
                }

                writer.Line($"for (int i = j * {Width.Text(group)}; i < (j + 1) * {Width.Text(group)}; i++)");
                using (writer.Braces())
                {
                    writer.Line($"int q = {QuantExpr(model.Layout, "block", "i")};");
                    writer.Line(model.Scheme == "SubScaledCodebook" ? "y[i] = dl * CodebookTable[q];" : $"y[i] = dl * {OffsetQ(model)}{(withMin ? " - ml" : "")};");
                }
            }
        }
    }

    /// <summary>
    /// <c>SubScale(scales, j)</c> and, with mins, <c>SubMin(scales, j)</c>: sub-block j's integer scale and min as the
    /// field's order packs them, the scale's Offset applied. Shared by the reference and the scalar dot product.
    /// </summary>
    public static void EmitSubScaleHelpers(SourceWriter writer, KernelModel model)
    {
        var sub = model.Layout.Find(FieldKind.SubScales)!;
        var offset = sub.ValueOffset == 0 ? "" : (sub.ValueOffset < 0 ? " - " : " + ") + Width.Text(Math.Abs(sub.ValueOffset));
        writer
            .Line($"/// <summary>Sub-block <paramref name=\"j\"/>'s scale ({sub.Order}, {Width.Text(sub.Bits)}-bit{(sub.ValueOffset != 0 ? ", offset " + Width.Text(sub.ValueOffset) : "")}).</summary>")
            .Line("[MethodImpl(MethodImplOptions.AggressiveInlining)]")
            .Line($"private static int SubScale(byte* scales, int j) => {SubItem(sub, "j", mins: false)}{offset};")
            .Line();
        if (sub.WithMins)
        {
            writer
                .Line("/// <summary>Sub-block <paramref name=\"j\"/>'s min.</summary>")
                .Line("[MethodImpl(MethodImplOptions.AggressiveInlining)]")
                .Line($"private static int SubMin(byte* scales, int j) => {SubItem(sub, "j", mins: true)};")
                .Line();
        }
    }

    private static string SubItem(KernelField sub, string j, bool mins)
    {
        var mask = Width.Text((1 << sub.Bits) - 1);
        switch (sub.Order)
        {
            case "ScaleMinPairs":
                return mins ? $"((scales[{j}] >> {Width.Text(sub.Bits)}) & {mask})" : $"(scales[{j}] & {mask})";
            case "ScalesK3":
                return $"(((scales[{j} % 8] >> (4 * ({j} / 8))) & 15) | (((scales[8 + {j} % 4] >> (2 * ({j} / 4))) & 3) << 4))";
            case "ScalesHighLow":
                return $"(((scales[2 + {j} / 2] >> (4 * ({j} % 2))) & 15) | (((Unsafe.ReadUnaligned<ushort>(scales) >> (2 * {j})) & 3) << 4))";
            case "ScaleMinK4":
                return mins
                    ? $"({j} < 4 ? scales[{j} + 4] & 63 : (scales[{j} + 4] >> 4) | ((scales[{j}] >> 6) << 4))"
                    : $"({j} < 4 ? scales[{j}] & 63 : (scales[{j} + 4] & 15) | ((scales[{j} - 4] >> 6) << 4))";
            default:
                // Sequential: items lowest bits first, the mins after the scales.
                var item = mins ? $"({Width.Text(sub.Count)} + {j})" : j;
                if (sub.Bits == 8)
                {
                    return sub.Signed ? $"(sbyte)scales[{item}]" : $"scales[{item}]";
                }

                var perByte = Width.Text(8 / sub.Bits);
                var raw = $"((scales[{item} / {perByte}] >> ({Width.Text(sub.Bits)} * ({item} % {perByte}))) & {mask})";
                return sub.Signed ? $"(({raw} << {Width.Text(32 - sub.Bits)}) >> {Width.Text(32 - sub.Bits)})" : raw;
        }
    }

    /// <summary>A UE4M3 sub-scale <paramref name="j"/> as a float, times the codebook's power-of-two multiplier (exact).</summary>
    public static string SubScaleFloat(KernelModel model, string block, string j)
    {
        var sub = model.Layout.Find(FieldKind.SubScales)!;
        var multiplier = model.CodebookLog2Multiplier == 0 ? "" : " * " + Math.Pow(2, model.CodebookLog2Multiplier).ToString("R", System.Globalization.CultureInfo.InvariantCulture) + "f";
        return $"global::QuantPS.Kernels.FloatConversions.UE4M3ToSingle(({Address(block, sub.Offset)})[{j}]){multiplier}";
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

    /// <summary>
    /// The runs a trit field's bytes fall into, in order: runs of 32 bytes while 32 remain, then 16, then the rest; digit
    /// n of byte m of a run is value (first value of the run) + n * (run length) + m (ggml's TQ1_0 order).
    /// </summary>
    public static System.Collections.Generic.List<(int Byte, int Length)> TritRuns(KernelField field)
    {
        var runs = new System.Collections.Generic.List<(int, int)>();
        var at = 0;
        while (at < field.Bytes)
        {
            var left = field.Bytes - at;
            var length = left >= 32 ? 32 : left >= 16 ? 16 : left;
            runs.Add((at, length));
            at += length;
        }

        return runs;
    }

    /// <summary><c>Trit(block, i)</c>: value i's base-3 digit (0..2), ggml's (byte * 3^n mod 256) * 3 >> 8.</summary>
    private static void EmitTritHelper(SourceWriter writer, LayoutModel layout)
    {
        writer
            .Line("private static ReadOnlySpan<byte> Pow3 => new byte[] { 1, 3, 9, 27, 81, 243 };")
            .Line()
            .Line("/// <summary>Value <paramref name=\"i\"/>'s trit: digit n of a byte is (byte)(byte * 3^n) * 3 >> 8.</summary>")
            .Line("private static int Trit(byte* block, int i)");
        using (writer.Braces())
        {
            var first = 0;
            foreach (var field in layout.Fields)
            {
                if (field.Kind != FieldKind.Trits)
                {
                    continue;
                }

                var perByte = field.Count / field.Bytes;
                foreach (var (start, length) in TritRuns(field))
                {
                    var end = first + (length * perByte);
                    writer.Line($"if (i < {Width.Text(end)})");
                    using (writer.Braces())
                    {
                        writer.Line($"int k = i - {Width.Text(first)};")
                            .Line($"byte q = (byte)(block[{Width.Text(field.Offset + start)} + k % {Width.Text(length)}] * Pow3[k / {Width.Text(length)}]);")
                            .Line("return (q * 3) >> 8;");
                    }

                    first = end;
                }
            }

            writer.Line("return 0;");
        }

        writer.Line();
    }

    /// <summary>Quant <paramref name="i"/> with its high bits, before Offset or codebook.</summary>
    public static string QuantExpr(LayoutModel layout, string block, string i)
    {
        if (layout.Find(FieldKind.Quants) is null && layout.Find(FieldKind.Trits) is not null)
        {
            return $"Trit({block}, {i})";
        }

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
    public static string WeightIntExpr(KernelModel model, string block, string i) => model.Scheme is "Codebook" or "SubScaledCodebook"
        ? $"CodebookTable[{QuantExpr(model.Layout, block, i)}]"
        : model.Offset == 0 ? QuantExpr(model.Layout, block, i) : $"({QuantExpr(model.Layout, block, i)} + {Width.Text(model.Offset)})";

    public static string Address(string block, int offset) => offset == 0 ? block : $"{block} + {Width.Text(offset)}";

    private static string OffsetQ(KernelModel model) => model.Offset == 0 ? "q" : model.Offset < 0 ? $"(q - {Width.Text(-model.Offset)})" : $"(q + {Width.Text(model.Offset)})";

    /// <summary>Item <paramref name="i"/> of a packed field, by its order.</summary>
    private static string Packed(KernelField field, string block, string i)
    {
        var at = Address(block, field.Offset);
        if (field.Bits == 8)
        {
            return field.Signed ? $"(sbyte)({at})[{i}]" : $"({at})[{i}]";
        }

        var mask = Width.Text((1 << field.Bits) - 1);
        if (field.Order is "Interleaved32" or "Interleaved64")
        {
            // Runs of R bytes: item k of byte l in run c is value c * R * (8 / bits) + R * k + l.
            var run = field.Order == "Interleaved32" ? 32 : 64;
            var perRun = Width.Text(run * (8 / field.Bits));
            return $"((({at})[({i} / {perRun}) * {Width.Text(run)} + {i} % {Width.Text(run)}] >> ({Width.Text(field.Bits)} * (({i} % {perRun}) / {Width.Text(run)}))) & {mask})";
        }

        if (field.Order is "SplitHalves32" or "SplitHalves16")
        {
            // Runs of R values in R / 2 bytes: byte l of run c holds values R * c + l (low nibble) and R * c + R / 2 + l (high nibble).
            var values = field.Order == "SplitHalves32" ? 32 : 16;
            var bytes = Width.Text(values / 2);
            return $"((({at})[({i} / {Width.Text(values)}) * {bytes} + {i} % {bytes}] >> (4 * (({i} % {Width.Text(values)}) / {bytes}))) & {mask})";
        }

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
