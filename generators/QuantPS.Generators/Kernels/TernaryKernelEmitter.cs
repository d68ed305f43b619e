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
internal sealed class TernaryKernelEmitter : BlockKernelFamily
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

    public override string? DotProblem(KernelModel model) => SuperBlockDotProblem(model, needsSums: model.Offset != 0);

    protected override void EmitDequantize(SourceWriter writer, KernelModel model, Width width) => DequantizeRow(
        writer, width, "Dequantizes whole super-blocks, " + Width.Text(width.Bits) + "-bit vectors: d times the decoded quant plus Offset.", () =>
        {
            var decoder = new KQuantDecoder(writer, model, width, "blk");
            writer.Line($"var d = {width.Vec}.Create({ReferenceEmitter.ScaleExpr(model, "blk")});");
            for (var v = 0; v < model.Layout.BlockSize / width.Bytes; v++)
            {
                var u = decoder.EmitVector(v);
                var q = model.Offset == 0 ? $"{u}.AsSByte()" : $"({u}.AsSByte() + {width.Vec}.Create((sbyte){Width.Text(model.Offset)}))";
                writer.Line($"var q{v} = {q};");
                StoreWidened(writer, width, v, "q" + Width.Text(v), (floats, _) => $"({floats} * d)");
            }
        });

    protected override void EmitDotScalar(SourceWriter writer, KernelModel model) => EmitWholeBlockDotScalar(writer, model);

    protected override void EmitDot(SourceWriter writer, KernelModel model, Width width)
    {
        var activation = model.Activation!;
        var d8 = ReferenceEmitter.ScalarField(activation.Find(FieldKind.Scale)!, "act");
        var aq = activation.Find(FieldKind.Quants)!.Offset;
        var vectors = model.Layout.BlockSize / width.Bytes;
        var summary = $"Dot product with {activation.Name}, whole super-blocks, {width.Bits}-bit vectors: int32 sums per super-block, then float.";
        DotRow(writer, width, model.Layout.TypeSize, summary, activation.TypeSize, () =>
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
                EmitOffsetCorrection(writer, model, width);
            }

            writer.Line($"acc = Simd.MultiplyAdd({width.Vec}.ConvertToSingle(isum), {width.Vec}.Create({ReferenceEmitter.ScaleExpr(model, "blk")} * {d8}), acc);");
        });
    }
}
