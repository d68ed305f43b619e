using System.Collections.Generic;
using System.Linq;
using QuantPS.Generators.Model;

namespace QuantPS.Generators.Kernels;

/// <summary>
/// K-quants: super-blocks of 256 values in sub-blocks of 16 or 32, each with an integer sub-scale (and min) under
/// F16 block scales (Q2_K, Q3_K, Q4_K, Q5_K, Q6_K). Weights decode, 32 values ("a run") at a time, to unsigned bytes
/// from Interleaved32/64 quant bits and high-bit planes (<see cref="KQuantDecoder"/>). The dot product with Q8_K
/// stays in integers per super-block as ggml's does: pmaddubsw of the unsigned weights with the int8 activations,
/// pmaddwd with the sub-scale, summed in int32; the Offset (q - 4, q - 32) and the mins enter through Q8_K's per-16
/// sums (Offset * sum_j s_j * bsum_j, sum_j m_j * bsum_j); then d * d8 and dmin * d8 scale in float.
/// </summary>
internal sealed partial class KQuantKernelEmitter : KernelFamily
{
    public override string Name => "KQuant";

    public override bool EmitsWeights(KernelModel model)
    {
        var layout = model.Layout;
        var quants = layout.Find(FieldKind.Quants);
        var sub = layout.Find(FieldKind.SubScales);
        if (model.Scheme is not ("SubScaled" or "SubScaledWithMin") || quants is null || sub is null
            || layout.Fields.Any(field => field.Kind is not (FieldKind.Scale or FieldKind.Min or FieldKind.SubScales or FieldKind.Quants or FieldKind.HighBits))
            || layout.Find(FieldKind.Scale)!.Format != "F16" || layout.Find(FieldKind.Min) is { Format: not "F16" }
            || layout.BlockSize != 256 || quants.Count != layout.BlockSize || (sub.Signed && sub.Bits != 8))
        {
            return false;
        }

        // Q8_K's 16 sums of 16 must map onto whole sub-blocks, each 16-byte lane of a vector must fall in one
        // sub-block, and the scales must fill one or two 8-entry int16 tables.
        var group = layout.BlockSize / sub.Count;
        var scalesOk = sub.Order switch
        {
            "Sequential" => sub.Bits == 8 && !sub.WithMins,
            "ScaleMinPairs" or "ScalesK3" or "ScaleMinK4" => true,
            _ => false,
        };
        var values = KQuantDecoder.ValueFields(layout);
        var bits = values.Sum(field => field.Bits);
        return scalesOk && group % 16 == 0 && sub.Count is 8 or 16
            && values.All(field => field.Order is "Interleaved32" or "Interleaved64")
            && bits <= 7;
    }

    public override string? DotProblem(KernelModel model)
    {
        var activation = model.Activation!;
        var quants = activation.Find(FieldKind.Quants);
        var sums = activation.Find(FieldKind.GroupSums);
        var needsSums = model.Offset != 0 || model.Scheme == "SubScaledWithMin";
        return activation.BlockSize != model.Layout.BlockSize ? $"{activation.Name} has {activation.BlockSize}-value blocks; the K-quant dot product needs {model.Layout.BlockSize}"
            : quants is not { Bits: 8, Signed: true, Order: "Sequential" } ? $"{activation.Name} does not hold signed 8-bit sequential quants"
            : activation.Find(FieldKind.Scale) is not { Format: "F32" or "F16" } ? $"{activation.Name} has no F32/F16 scale"
            : needsSums && (sums is not { Bits: 16, Signed: true } || activation.BlockSize / sums.Count != 16)
                ? $"the sub-block mins and the Offset need {activation.Name}'s int16 sums of each 16 quants ([GroupSums])"
            : null;
    }

    public override bool EmitsDotRows => true;

    public override void EmitWeightKernels(SourceWriter writer, KernelModel model)
    {
        writer
            .Line("/// <summary>Scalar fallback: the reference.</summary>")
            .Line("public static void DequantizeRowScalar(byte* source, float* destination, long count) => DequantizeReferenceRow(source, destination, count);")
            .Line();
        foreach (var width in Width.All)
        {
            EmitDequantize(writer, model, width);
        }

        if (model.HasDot)
        {
            EmitDotScalar(writer, model);
            var constants = new KQuantConstants();
            foreach (var width in Width.All)
            {
                EmitDot(writer, model, width, constants);
            }

            EmitDotRowsByRow(writer, "Scalar");
            foreach (var width in Width.All)
            {
                EmitDotRows(writer, model, width, constants);
            }

            constants.EmitTable(writer);
            EmitDecodeSubScaled(writer, model);
            if (SubBlockQuantMax(model) is not null)
            {
                EmitDecodeSubBlocks(writer, model);
            }
        }
    }

    private static void EmitDequantize(SourceWriter writer, KernelModel model, Width width)
    {
        var layout = model.Layout;
        var sub = layout.Find(FieldKind.SubScales)!;
        var group = layout.BlockSize / sub.Count;
        var withMin = model.Scheme == "SubScaledWithMin";
        writer
            .Line($"/// <summary>Dequantizes whole super-blocks, {width.Bits}-bit vectors: d * s[j] per sub-block, times the decoded quant{(withMin ? ", minus dmin * m[j]" : "")}.</summary>")
            .Line(Hot)
            .Line($"public static void DequantizeRow{width.Suffix}(byte* source, float* destination, long count)");
        using (writer.Braces())
        {
            writer.Line("long blocks = count / BlockSize;").Line("byte* blk = source;").Line("float* y = destination;")
                .Line("for (long b = 0; b < blocks; b++, blk += TypeSize, y += BlockSize)");
            using (writer.Braces())
            {
                var decoder = new KQuantDecoder(writer, model, width, "blk");
                decoder.EmitSubScales();
                // d * s[j] and dmin * m[j] are exact in float (11-bit d times a small integer), as ggml computes them.
                writer.Line($"var d = Vector128.Create({ReferenceEmitter.ScaleExpr(model, "blk")});");
                for (var t = 0; t < sub.Count / 8; t++)
                {
                    writer.Line($"var s{t} = {decoder.ScaleShorts(t)};")
                        .Line($"var ds{2 * t} = Vector128.ConvertToSingle(Vector128.WidenLower(s{t})) * d;")
                        .Line($"var ds{(2 * t) + 1} = Vector128.ConvertToSingle(Vector128.WidenUpper(s{t})) * d;");
                }

                if (withMin)
                {
                    writer.Line($"var dmin = Vector128.Create({ReferenceEmitter.MinExpr(model, "blk")});");
                    for (var t = 0; t < sub.Count / 8; t++)
                    {
                        writer.Line($"var n{t} = {decoder.MinShorts(t)};")
                            .Line($"var dm{2 * t} = Vector128.ConvertToSingle(Vector128.WidenLower(n{t})) * dmin;")
                            .Line($"var dm{(2 * t) + 1} = Vector128.ConvertToSingle(Vector128.WidenUpper(n{t})) * dmin;");
                    }
                }

                for (var v = 0; v < layout.BlockSize / width.Bytes; v++)
                {
                    var u = decoder.EmitVector(v);
                    var q = model.Offset == 0 ? $"{u}.AsSByte()" : $"({u}.AsSByte() + {width.Vec}.Create((sbyte){Width.Text(model.Offset)}))";
                    writer.Line($"var q{v} = {q};");
                    writer.Line($"var lo{v} = {width.Vec}.WidenLower(q{v});").Line($"var hi{v} = {width.Vec}.WidenUpper(q{v});");
                    for (var f = 0; f < 4; f++)
                    {
                        var first = (v * width.Bytes) + (f * width.Floats);
                        var g = first / group;
                        var half = (f < 2 ? "lo" : "hi") + Width.Text(v);
                        var widen = f % 2 == 0 ? "WidenLower" : "WidenUpper";
                        var min = withMin ? $" - {Lane(width, "dm" + Width.Text(g / 4), g % 4)}" : "";
                        writer.Line($"({width.Vec}.ConvertToSingle({width.Vec}.{widen}({half})) * {Lane(width, "ds" + Width.Text(g / 4), g % 4)}{min}).Store(y + {Width.Text(first)});");
                    }
                }
            }
        }

        writer.Line();
    }

    private static void EmitDotScalar(SourceWriter writer, KernelModel model)
    {
        var layout = model.Layout;
        var activation = model.Activation!;
        var sub = layout.Find(FieldKind.SubScales)!;
        var group = layout.BlockSize / sub.Count;
        var withMin = model.Scheme == "SubScaledWithMin";
        var d8 = ReferenceEmitter.ScalarField(activation.Find(FieldKind.Scale)!, "act");
        writer
            .Line($"/// <summary>Scalar fallback dot product with {activation.Name}: int products per sub-block times its scale, summed per super-block, then scaled.</summary>")
            .Line(Hot)
            .Line("public static float DotScalar(long count, byte* weights, byte* activations)");
        using (writer.Braces())
        {
            writer.Line("long blocks = count / BlockSize;").Line("float sum = 0f;").Line("for (long b = 0; b < blocks; b++)");
            using (writer.Braces())
            {
                writer
                    .Line("byte* block = weights + b * TypeSize;")
                    .Line($"byte* act = activations + b * {Width.Text(activation.TypeSize)};")
                    .Line($"sbyte* aq = (sbyte*)({ReferenceEmitter.Address("act", activation.Find(FieldKind.Quants)!.Offset)});")
                    .Line(withMin ? "int sumi = 0, summ = 0;" : "int sumi = 0;")
                    .Line($"for (int j = 0; j < {Width.Text(sub.Count)}; j++)");
                using (writer.Braces())
                {
                    writer.Line(withMin ? "int isum = 0, asum = 0;" : "int isum = 0;")
                        .Line($"for (int i = j * {Width.Text(group)}; i < (j + 1) * {Width.Text(group)}; i++)");
                    using (writer.Braces())
                    {
                        var q = ReferenceEmitter.QuantExpr(layout, "block", "i");
                        writer.Line($"isum += {(model.Offset == 0 ? q : $"({q} + {Width.Text(model.Offset)})")} * aq[i];");
                        if (withMin)
                        {
                            writer.Line("asum += aq[i];");
                        }
                    }

                    var scales = ReferenceEmitter.Address("block", sub.Offset);
                    writer.Line($"sumi += SubScale({scales}, j) * isum;");
                    if (withMin)
                    {
                        writer.Line($"summ += SubMin({scales}, j) * asum;");
                    }
                }

                var min = withMin ? $" - {ReferenceEmitter.MinExpr(model, "block")} * {d8} * summ" : "";
                writer.Line($"sum += {ReferenceEmitter.ScaleExpr(model, "block")} * {d8} * sumi{min};");
            }

            writer.Line("return sum;");
        }

        writer.Line();
    }

    /// <summary>
    /// The dot product at <paramref name="width"/>. At 512 bits it runs the 256-bit loop: the 32-byte runs of the
    /// K-quant layouts must be joined or shuffled across 256-bit halves before a 512-bit multiply, and that costs more
    /// than the wider multiply saves where 512-bit integer multiplies issue at half the 256-bit rate (measured on
    /// Zen 4: the 512-bit loop ran 10-15% slower on every K-quant; ggml's K-quant dot is 256-bit too).
    /// </summary>
    private static void EmitDot(SourceWriter writer, KernelModel model, Width member, KQuantConstants constants)
    {
        var width = member == Width.V512 ? Width.V256 : member;
        var layout = model.Layout;
        var activation = model.Activation!;
        var sub = layout.Find(FieldKind.SubScales)!;
        var group = layout.BlockSize / sub.Count;
        var withMin = model.Scheme == "SubScaledWithMin";
        var d8 = ReferenceEmitter.ScalarField(activation.Find(FieldKind.Scale)!, "act");
        var aq = activation.Find(FieldKind.Quants)!.Offset;
        var vectors = layout.BlockSize / width.Bytes;
        writer
            .Line($"/// <summary>Dot product with {activation.Name}, whole super-blocks, {width.Bits}-bit vectors{(member != width ? $" (the {member.Bits}-bit member runs the {width.Bits}-bit loop)" : "")}: int32 sums per super-block, then float.</summary>")
            .Line(Hot)
            .Line($"public static float Dot{member.Suffix}(long count, byte* weights, byte* activations)");
        using (writer.Braces())
        {
            writer.Line("long blocks = count / BlockSize;").Line($"var acc = {width.Vec}<float>.Zero;");
            if (withMin)
            {
                writer.Line($"var minAcc = {(width == Width.V128 ? "Vector128" : "Vector256")}<float>.Zero;");
            }

            writer.Line("byte* blk = weights;").Line("byte* act = activations;");

            // The loop body is written first, so the constants it uses can be loaded in front of it.
            var outer = writer;
            writer = new SourceWriter();
            {
                KernelSupportEmitter.EmitPrefetch(writer, "blk", layout.TypeSize);
                var decoder = new KQuantDecoder(writer, model, width, "blk", constants);
                decoder.EmitSubScales();
                decoder.EmitScaleTables();

                var products = new List<string>();
                for (var v = 0; v < vectors; v++)
                {
                    var u = decoder.EmitVector(v);
                    writer.Line($"var y{v} = {width.Vec}.Load((sbyte*)({ReferenceEmitter.Address("act", aq + (v * width.Bytes))}));");
                    writer.Line($"var p{v} = Simd.DotScaled({u}, y{v}, {decoder.ScaleVector(v)});");
                    products.Add("p" + Width.Text(v));
                }

                writer.Line($"var isum = {TreeSum(products)};");
                var sums = activation.Find(FieldKind.GroupSums)?.Offset ?? 0;
                var small = width == Width.V128 ? Width.V128 : Width.V256;
                if (model.Offset != 0 || withMin)
                {
                    writer.Lines(width == Width.V128
                        ? $"var bs0 = Vector128.Load((short*)({ReferenceEmitter.Address("act", sums)}));\nvar bs1 = Vector128.Load((short*)({ReferenceEmitter.Address("act", sums + 16)}));"
                        : $"var bs = Vector256.Load((short*)({ReferenceEmitter.Address("act", sums)}));");
                }

                if (model.Offset != 0)
                {
                    // Offset * sum_j s_j * bsum_j: the weights entered unsigned, without their Offset.
                    writer.Line($"var corr = {PerSums(decoder, width, ofMins: false)};");
                    var magnitude = System.Math.Abs(model.Offset);
                    var term = (magnitude & (magnitude - 1)) == 0
                        ? $"{small.Vec}.ShiftLeft(corr, {Width.Text(Log2(magnitude))})"
                        : $"(corr * {small.Vec}.Create({Width.Text(magnitude)}))";
                    writer.Line($"isum {(model.Offset < 0 ? "-" : "+")}= {(width == Width.V512 ? term + ".ToVector512()" : term)};");
                }

                writer.Line($"acc = Simd.MultiplyAdd({width.Vec}.ConvertToSingle(isum), {width.Vec}.Create({ReferenceEmitter.ScaleExpr(model, "blk")} * {d8}), acc);");
                if (withMin)
                {
                    writer.Line($"var msum = {PerSums(decoder, width, ofMins: true)};");
                    writer.Line($"minAcc = Simd.MultiplyAdd({small.Vec}.ConvertToSingle(msum), {small.Vec}.Create({ReferenceEmitter.MinExpr(model, "blk")} * {d8}), minAcc);");
                }
            }

            var body = writer.ToString();
            writer = outer;
            constants.EmitLocals(writer);
            writer.Line($"for (long b = 0; b < blocks; b++, blk += TypeSize, act += {Width.Text(activation.TypeSize)})");
            using (writer.Braces())
            {
                writer.Lines(body.TrimEnd('\n'));
            }

            writer.Line($"return {width.Vec}.Sum(acc){(withMin ? $" - {(width == Width.V128 ? "Vector128" : "Vector256")}.Sum(minAcc)" : "")};");
        }

        writer.Line();
    }

    /// <summary>
    /// sum_k bsum_k * x[sub-block of k] over Q8_K's 16 per-16 sums, x the sub-scales or mins: one pmaddwd of
    /// 256 bits (two of 128 at V128), the int32 partial sums left in lanes.
    /// </summary>
    private static string PerSums(KQuantDecoder decoder, Width width, bool ofMins) => width == Width.V128
        ? $"Simd.MultiplyAddPairs(bs0, {decoder.PerSumValues(ofMins, 0)}) + Simd.MultiplyAddPairs(bs1, {decoder.PerSumValues(ofMins, 1)})"
        : $"Simd.MultiplyAddPairs(bs, {decoder.PerSumValues(ofMins, 0)})";

    /// <summary>Lane <paramref name="lane"/> of a Vector128 of floats, broadcast to a whole vector.</summary>
    private static string Lane(Width width, string vector, int lane) =>
        width == Width.V128 ? $"Vector128.Shuffle({vector}, Vector128.Create({Width.Text(lane)}))"
        : width == Width.V256 ? $"Vector256.Shuffle({vector}.ToVector256Unsafe(), Vector256.Create({Width.Text(lane)}))"
        : $"Vector512.Shuffle({vector}.ToVector256Unsafe().ToVector512Unsafe(), Vector512.Create({Width.Text(lane)}))";

    /// <summary>A balanced sum, so the adds do not form one long dependency chain.</summary>
    private static string TreeSum(IReadOnlyList<string> terms) => terms.Count == 1
        ? terms[0]
        : $"({TreeSum(terms.Take(terms.Count / 2).ToList())} + {TreeSum(terms.Skip(terms.Count / 2).ToList())})";

    private static int Log2(int value)
    {
        var log = 0;
        while ((1 << log) < value)
        {
            log++;
        }

        return log;
    }
}
