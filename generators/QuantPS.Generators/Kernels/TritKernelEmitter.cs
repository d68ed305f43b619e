using System.Collections.Generic;
using System.Linq;
using QuantPS.Generators.Model;

namespace QuantPS.Generators.Kernels;

/// <summary>
/// Base-3 packed blocks (TQ1_0): 256 values under one F16 scale, <c>x = d * (t + Offset)</c>, t a trit stored five
/// (or four) to a byte in ggml's run order (<see cref="ReferenceEmitter.TritRuns"/>). Digit n of a byte b is
/// <c>(byte)(b * 3^n) * 3 >> 8</c>, that is 0, 1 or 2 as the wrapped product passes 85 and 170: 16 bytes at a time,
/// a byte multiply and two unsigned compares, into a 256-byte block of trits on the stack; from there dequantizing
/// and the dot product run at the full width. The dot with Q8_K stays in integers per super-block as ggml's does:
/// unsigned trits times int8 activations, the Offset through Q8_K's per-16 sums, then d * d8 in float.
/// </summary>
internal sealed class TritKernelEmitter : BlockKernelFamily
{
    public override string Name => "Trit";

    public override bool EmitsWeights(KernelModel model)
    {
        var layout = model.Layout;
        var trits = layout.Fields.Where(field => field.Kind == FieldKind.Trits).ToList();
        return model.Scheme == "Scaled" && trits.Count > 0
            && layout.Fields.All(field => field.Kind is FieldKind.Scale or FieldKind.Trits)
            && layout.Find(FieldKind.Scale) is { Format: "F16" }
            && layout.BlockSize == 256 && trits.Sum(field => field.Count) == 256
            && trits.All(field => field.Count % field.Bytes == 0 && field.Count / field.Bytes <= 5
                && ReferenceEmitter.TritRuns(field).All(run => run.Length is 32 or 16 or 8 or 4))
            && model.Offset is <= 0 and >= -127;
    }

    public override string? DotProblem(KernelModel model) => SuperBlockDotProblem(model, needsSums: model.Offset != 0);

    protected override void EmitHelpers(SourceWriter writer, KernelModel model) => EmitUnpack(writer, model);

    /// <summary><c>UnpackTrits(block, t)</c>: the block's 256 trits into <c>t</c> (16 bytes of slack after them).</summary>
    private static void EmitUnpack(SourceWriter writer, KernelModel model)
    {
        var pow3 = new[] { 1, 3, 9, 27, 81, 243 };
        writer
            .Line("/// <summary>The block's trits, value order, into <paramref name=\"t\"/>; short runs write 16 bytes, the slack after 256 absorbs them.</summary>")
            .Line("[MethodImpl(MethodImplOptions.AggressiveInlining)]")
            .Line("private static void UnpackTrits(byte* block, byte* t)");
        using (writer.Braces())
        {
            writer.Line("var one = Vector128.Create((byte)1);").Line("var c85 = Vector128.Create((byte)85);").Line("var c170 = Vector128.Create((byte)170);");
            var first = 0;
            var piece = 0;
            foreach (var field in model.Layout.Fields.Where(field => field.Kind == FieldKind.Trits))
            {
                var perByte = field.Count / field.Bytes;
                foreach (var (start, length) in ReferenceEmitter.TritRuns(field))
                {
                    for (var part = 0; part < length; part += 16)
                    {
                        var at = ReferenceEmitter.Address("block", field.Offset + start + part);
                        var load = length >= 16 ? $"Vector128.Load({at})"
                            : length == 8 ? $"Vector128.CreateScalar(Unsafe.ReadUnaligned<ulong>({at})).AsByte()"
                            : $"Vector128.CreateScalar(Unsafe.ReadUnaligned<uint>({at})).AsByte()";
                        var name = "b" + Width.Text(piece++);
                        writer.Line($"var {name} = {load};");
                        for (var n = 0; n < perByte; n++)
                        {
                            var q = n == 0 ? name : $"({name} * Vector128.Create((byte){Width.Text(pow3[n])}))";
                            writer.Line($"var {name}d{n} = {q};")
                                .Line($"((Vector128.GreaterThan({name}d{n}, c85) & one) + (Vector128.GreaterThan({name}d{n}, c170) & one)).Store(t + {Width.Text(first + (n * length) + part)});");
                        }
                    }

                    first += length * perByte;
                }
            }
        }

        writer.Line();
    }

    protected override void EmitDequantize(SourceWriter writer, KernelModel model, Width width) => DequantizeRow(
        writer, width, "Dequantizes whole blocks, " + Width.Text(width.Bits) + "-bit vectors from the unpacked trits: d times (t + Offset).", () =>
        {
            writer.Line("UnpackTrits(blk, t);").Line($"var d = {width.Vec}.Create({ReferenceEmitter.ScaleExpr(model, "blk")});");
            for (var v = 0; v < model.Layout.BlockSize / width.Bytes; v++)
            {
                var load = $"{width.Vec}.Load((sbyte*)(t + {Width.Text(v * width.Bytes)}))";
                writer.Line($"var q{v} = {(model.Offset == 0 ? load : $"({load} + {width.Vec}.Create((sbyte){Width.Text(model.Offset)}))")};");
                StoreWidened(writer, width, v, "q" + Width.Text(v), (floats, _) => $"({floats} * d)");
            }
        },
        "byte* t = stackalloc byte[BlockSize + 16];");

    protected override void EmitDotScalar(SourceWriter writer, KernelModel model) => EmitWholeBlockDotScalar(writer, model);

    protected override void EmitDot(SourceWriter writer, KernelModel model, Width width)
    {
        var activation = model.Activation!;
        var d8 = ReferenceEmitter.ScalarField(activation.Find(FieldKind.Scale)!, "act");
        var aq = activation.Find(FieldKind.Quants)!.Offset;
        var vectors = model.Layout.BlockSize / width.Bytes;
        var summary = $"Dot product with {activation.Name}, whole blocks, {width.Bits}-bit vectors: int32 sums per block, then float.";
        DotRow(
            writer,
            width,
            model.Layout.TypeSize,
            summary,
            activation.TypeSize,
            () =>
            {
                writer.Line("UnpackTrits(blk, t);");
                var products = new List<string>();
                for (var v = 0; v < vectors; v++)
                {
                    writer.Line($"var y{v} = {width.Vec}.Load((sbyte*)({ReferenceEmitter.Address("act", aq + (v * width.Bytes))}));")
                        .Line($"var p{v} = Simd.DotU8({width.Vec}.Load(t + {Width.Text(v * width.Bytes)}), y{v});");
                    products.Add("p" + Width.Text(v));
                }

                writer.Line($"var isum = {TreeSum(products)};");
                if (model.Offset != 0)
                {
                    EmitOffsetCorrection(writer, model, width);
                }

                writer.Line($"acc = Simd.MultiplyAdd({width.Vec}.ConvertToSingle(isum), {width.Vec}.Create({ReferenceEmitter.ScaleExpr(model, "blk")} * {d8}), acc);");
            },
            "byte* t = stackalloc byte[BlockSize + 16];");
    }
}
