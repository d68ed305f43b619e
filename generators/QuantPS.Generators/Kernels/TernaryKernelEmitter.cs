using System.Collections.Generic;
using System.Linq;
using QuantPS.Generators.Model;

namespace QuantPS.Generators.Kernels;

/// <summary>
/// 256-value super-blocks under one F16 scale, with no sub-scales: <c>x = d * (q + Offset)</c>, the quants in the
/// K-quant Interleaved32 order (TQ2_0). Values decode 32 at a time to unsigned bytes through
/// <see cref="KQuantDecoder"/>. The dot product with Q8_K stays in integers per super-block as ggml's does: unsigned
/// quants times the int8 activations (pmaddubsw, pmaddwd with ones), the Offset entering through Q8_K's per-16 sums
/// (Offset * sum bsum), then d * d8 in float.
/// </summary>
internal sealed class TernaryKernelEmitter : KernelFamily
{
    public override string Name => "Ternary";

    public override bool EmitsWeights(KernelModel model)
    {
        var layout = model.Layout;
        var quants = layout.Find(FieldKind.Quants);
        return model.Scheme == "Scaled" && quants is not null && !quants.Signed
            && layout.Fields.All(field => field.Kind is FieldKind.Scale or FieldKind.Quants)
            && layout.Find(FieldKind.Scale)!.Format == "F16"
            && layout.BlockSize == 256 && quants.Count == 256
            && quants.Bits is 1 or 2 or 4 && quants.Order == "Interleaved32"
            && model.Offset is <= 0 and >= -127;
    }

    public override string? DotProblem(KernelModel model)
    {
        var activation = model.Activation!;
        var quants = activation.Find(FieldKind.Quants);
        var sums = activation.Find(FieldKind.GroupSums);
        return activation.BlockSize != model.Layout.BlockSize ? $"{activation.Name} has {activation.BlockSize}-value blocks; this dot product needs {model.Layout.BlockSize}"
            : quants is not { Bits: 8, Signed: true, Order: "Sequential" } ? $"{activation.Name} does not hold signed 8-bit sequential quants"
            : activation.Find(FieldKind.Scale) is not { Format: "F32" or "F16" } ? $"{activation.Name} has no F32/F16 scale"
            : model.Offset != 0 && (sums is not { Bits: 16, Signed: true } || activation.BlockSize / sums.Count != 16)
                ? $"the Offset needs {activation.Name}'s int16 sums of each 16 quants ([GroupSums])"
            : null;
    }

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
            foreach (var width in Width.All)
            {
                EmitDot(writer, model, width);
            }
        }
    }

    private static void EmitDequantize(SourceWriter writer, KernelModel model, Width width)
    {
        writer
            .Line($"/// <summary>Dequantizes whole super-blocks, {width.Bits}-bit vectors: d times the decoded quant plus Offset.</summary>")
            .Line(Hot)
            .Line($"public static void DequantizeRow{width.Suffix}(byte* source, float* destination, long count)");
        using (writer.Braces())
        {
            writer.Line("long blocks = count / BlockSize;").Line("byte* blk = source;").Line("float* y = destination;")
                .Line("for (long b = 0; b < blocks; b++, blk += TypeSize, y += BlockSize)");
            using (writer.Braces())
            {
                var decoder = new KQuantDecoder(writer, model, width, "blk");
                writer.Line($"var d = {width.Vec}.Create({ReferenceEmitter.ScaleExpr(model, "blk")});");
                for (var v = 0; v < model.Layout.BlockSize / width.Bytes; v++)
                {
                    var u = decoder.EmitVector(v);
                    var q = model.Offset == 0 ? $"{u}.AsSByte()" : $"({u}.AsSByte() + {width.Vec}.Create((sbyte){Width.Text(model.Offset)}))";
                    writer.Line($"var q{v} = {q};");
                    writer.Line($"var lo{v} = {width.Vec}.WidenLower(q{v});").Line($"var hi{v} = {width.Vec}.WidenUpper(q{v});");
                    for (var f = 0; f < 4; f++)
                    {
                        var first = (v * width.Bytes) + (f * width.Floats);
                        var half = (f < 2 ? "lo" : "hi") + Width.Text(v);
                        var widen = f % 2 == 0 ? "WidenLower" : "WidenUpper";
                        writer.Line($"({width.Vec}.ConvertToSingle({width.Vec}.{widen}({half})) * d).Store(y + {Width.Text(first)});");
                    }
                }
            }
        }

        writer.Line();
    }

    private static void EmitDotScalar(SourceWriter writer, KernelModel model)
    {
        var activation = model.Activation!;
        var d8 = ReferenceEmitter.ScalarField(activation.Find(FieldKind.Scale)!, "act");
        writer
            .Line($"/// <summary>Scalar fallback dot product with {activation.Name}: int products summed per super-block, then scaled.</summary>")
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
                    .Line("int isum = 0;")
                    .Line("for (int i = 0; i < BlockSize; i++)");
                using (writer.Braces())
                {
                    writer.Line($"isum += {ReferenceEmitter.WeightIntExpr(model, "block", "i")} * aq[i];");
                }

                writer.Line($"sum += {ReferenceEmitter.ScaleExpr(model, "block")} * {d8} * isum;");
            }

            writer.Line("return sum;");
        }

        writer.Line();
    }

    private static void EmitDot(SourceWriter writer, KernelModel model, Width width)
    {
        var activation = model.Activation!;
        var d8 = ReferenceEmitter.ScalarField(activation.Find(FieldKind.Scale)!, "act");
        var aq = activation.Find(FieldKind.Quants)!.Offset;
        var vectors = model.Layout.BlockSize / width.Bytes;
        writer
            .Line($"/// <summary>Dot product with {activation.Name}, whole super-blocks, {width.Bits}-bit vectors: int32 sums per super-block, then float.</summary>")
            .Line(Hot)
            .Line($"public static float Dot{width.Suffix}(long count, byte* weights, byte* activations)");
        using (writer.Braces())
        {
            writer.Line("long blocks = count / BlockSize;").Line($"var acc = {width.Vec}<float>.Zero;")
                .Line("byte* blk = weights;").Line("byte* act = activations;")
                .Line($"for (long b = 0; b < blocks; b++, blk += TypeSize, act += {Width.Text(activation.TypeSize)})");
            using (writer.Braces())
            {
                var decoder = new KQuantDecoder(writer, model, width, "blk");
                var products = new List<string>();
                for (var v = 0; v < vectors; v++)
                {
                    var u = decoder.EmitVector(v);
                    writer.Line($"var y{v} = {width.Vec}.Load((sbyte*)({ReferenceEmitter.Address("act", aq + (v * width.Bytes))}));");
                    writer.Line($"var p{v} = Simd.DotU8({u}, y{v});");
                    products.Add("p" + Width.Text(v));
                }

                writer.Line($"var isum = {TreeSum(products)};");
                if (model.Offset != 0)
                {
                    // The weights entered unsigned, without their Offset: add Offset * (the sum of all activations).
                    var sums = ReferenceEmitter.Address("act", activation.Find(FieldKind.GroupSums)!.Offset);
                    var ones = "Vector128.Create((short)1)";
                    var corr = width == Width.V128
                        ? $"Simd.MultiplyAddPairs(Vector128.Load((short*)({sums})), {ones}) + Simd.MultiplyAddPairs(Vector128.Load((short*)({sums} + 16)), {ones})"
                        : $"Simd.MultiplyAddPairs(Vector256.Load((short*)({sums})), Vector256.Create((short)1))";
                    writer.Line($"var corr = {corr};");
                    var magnitude = -model.Offset;
                    var term = magnitude == 1 ? "corr" : $"(corr * {(width == Width.V128 ? "Vector128" : "Vector256")}.Create({Width.Text(magnitude)}))";
                    writer.Line($"isum -= {(width == Width.V512 ? term + ".ToVector512()" : term)};");
                }

                writer.Line($"acc = Simd.MultiplyAdd({width.Vec}.ConvertToSingle(isum), {width.Vec}.Create({ReferenceEmitter.ScaleExpr(model, "blk")} * {d8}), acc);");
            }

            writer.Line($"return {width.Vec}.Sum(acc);");
        }

        writer.Line();
    }

    /// <summary>A balanced sum, so the adds do not form one long dependency chain.</summary>
    private static string TreeSum(IReadOnlyList<string> terms) => terms.Count == 1
        ? terms[0]
        : $"({TreeSum(terms.Take(terms.Count / 2).ToList())} + {TreeSum(terms.Skip(terms.Count / 2).ToList())})";
}
