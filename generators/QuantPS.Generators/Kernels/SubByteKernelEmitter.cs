using System.Collections.Generic;
using System.Linq;
using QuantPS.Generators.Model;

namespace QuantPS.Generators.Kernels;

/// <summary>
/// Blocks of 64 or more values under one F16 scale whose 1- or 2-bit quants are packed Sequentially (Q1_0, Q2_0):
/// <c>x = d * (q + Offset)</c> or <c>x = d * codebook[q]</c>. A 32-value chunk decodes to int8 weights by spreading
/// its 4 or 8 bytes over the vector (one bit-expand, or a byte shuffle and a per-position shift); the dot product
/// pairs each chunk with one 32-value activation block, int8 times int8 in int32, scaled by <c>d * d8</c> per chunk
/// (ggml's order: integer sum per activation block, then float).
/// </summary>
internal sealed class SubByteKernelEmitter : KernelFamily
{
    private const int Chunk = 32;

    public override string Name => "SubByte";

    public override bool EmitsWeights(KernelModel model)
    {
        var layout = model.Layout;
        var quants = layout.Find(FieldKind.Quants);
        return model.Scheme is "Scaled" or "Codebook" && quants is not null && !quants.Signed
            && layout.Fields.All(field => field.Kind is FieldKind.Scale or FieldKind.Quants)
            && layout.Find(FieldKind.Scale)!.Format == "F16"
            && layout.BlockSize % 64 == 0 && quants.Count == layout.BlockSize
            && quants.Bits is 1 or 2 && quants.Order == "Sequential"
            && (model.Scheme == "Codebook" || (model.Offset <= 0 && model.Offset >= -127));
    }

    public override string? DotProblem(KernelModel model)
    {
        var activation = model.Activation!;
        var quants = activation.Find(FieldKind.Quants);
        return activation.BlockSize != Chunk ? $"{activation.Name} has {activation.BlockSize}-value blocks; this dot product pairs {Chunk}-value chunks with them"
            : quants is not { Bits: 8, Signed: true, Order: "Sequential" } ? $"{activation.Name} does not hold signed 8-bit sequential quants"
            : activation.Find(FieldKind.Scale) is not { Format: "F16" or "F32" } ? $"{activation.Name} has no F16/F32 scale"
            : activation.Fields.Any(field => field.Kind == FieldKind.Sum) ? $"{activation.Name} carries a [Sum] this scheme has no use for"
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

    /// <summary>
    /// Emits the decoding of values <c>first .. first + at.Bytes</c> of the block at <paramref name="block"/> (at most
    /// 32, one chunk at V256 or half of one at V128) into int8 weights, and returns the variable's name.
    /// </summary>
    private static string EmitWeights(SourceWriter writer, KernelModel model, Width at, string block, int first, string name)
    {
        var quants = model.Layout.Find(FieldKind.Quants)!;
        var byteOffset = quants.Offset + (first * quants.Bits / 8);
        var address = ReferenceEmitter.Address(block, byteOffset);
        string index;
        if (quants.Bits == 1)
        {
            // Bit i of the little-endian word is value i: bytes of 0xFF where set, then 0 or 1.
            var word = at == Width.V128 ? "ushort" : "uint";
            index = $"(Simd.ExpandBits(Unsafe.ReadUnaligned<{word}>({address})) & {at.Vec}.Create((byte)1))";
        }
        else
        {
            // Four values to a byte: byte p / 4 to position p (each 128-bit lane looks up in its own copy), then
            // position p keeps bits 2 * (p % 4).
            var bytes = at.Bytes / 4;
            var load = bytes == 8
                ? $"Vector128.CreateScalar(Unsafe.ReadUnaligned<ulong>({address})).AsSByte()"
                : $"Vector128.CreateScalar(Unsafe.ReadUnaligned<uint>({address})).AsSByte()";
            var table = at == Width.V128 ? load : $"Simd.BroadcastV256({load})";
            var spread = string.Join(", ", Enumerable.Range(0, at.Bytes).Select(p => "(byte)" + Width.Text(p / 4)));
            writer.Line($"var {name}s = Simd.Lookup16({table}, {at.Vec}.Create({spread})).AsByte();");
            var parts = Enumerable.Range(0, 4).Select(k =>
            {
                var shifted = k == 0 ? $"{name}s" : $"{at.Vec}.ShiftRightLogical({name}s.AsUInt16(), {Width.Text(2 * k)}).AsByte()";
                return $"({shifted} & {at.Vec}.Create(0x{3u << (8 * k):X8}u).AsByte())";
            });
            index = "(" + string.Join(" | ", parts) + ")";
        }

        var weights = model.Scheme == "Codebook"
            ? $"Simd.Lookup16(Simd.Broadcast{at.Suffix}(Codebook), {index})"
            : model.Offset == 0 ? $"{index}.AsSByte()" : $"({index}.AsSByte() + {at.Vec}.Create((sbyte){Width.Text(model.Offset)}))";
        writer.Line($"var {name} = {weights};");
        return name;
    }

    /// <summary>The int8 weights of values <c>first .. first + width.Bytes</c>: at 512 bits two 256-bit chunks joined.</summary>
    private static string EmitVector(SourceWriter writer, KernelModel model, Width width, string block, int first, string name)
    {
        if (width != Width.V512)
        {
            return EmitWeights(writer, model, width, block, first, name);
        }

        var low = EmitWeights(writer, model, Width.V256, block, first, name + "a");
        var high = EmitWeights(writer, model, Width.V256, block, first + Chunk, name + "b");
        writer.Line($"var {name} = Simd.Join({low}, {high});");
        return name;
    }

    private static void EmitDequantize(SourceWriter writer, KernelModel model, Width width)
    {
        writer
            .Line($"/// <summary>Dequantizes whole blocks, {width.Bits}-bit vectors: d times the decoded weight.</summary>")
            .Line(Hot)
            .Line($"public static void DequantizeRow{width.Suffix}(byte* source, float* destination, long count)");
        using (writer.Braces())
        {
            writer.Line("long blocks = count / BlockSize;").Line("byte* blk = source;").Line("float* y = destination;")
                .Line("for (long b = 0; b < blocks; b++, blk += TypeSize, y += BlockSize)");
            using (writer.Braces())
            {
                writer.Line($"var d = {width.Vec}.Create({ReferenceEmitter.ScaleExpr(model, "blk")});");
                for (var v = 0; v < model.Layout.BlockSize / width.Bytes; v++)
                {
                    var q = EmitVector(writer, model, width, "blk", v * width.Bytes, "q" + Width.Text(v));
                    writer.Line($"var lo{v} = {width.Vec}.WidenLower({q});").Line($"var hi{v} = {width.Vec}.WidenUpper({q});");
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
        var chunks = model.Layout.BlockSize / Chunk;
        writer
            .Line($"/// <summary>Scalar fallback dot product with {activation.Name}: int products summed per {Chunk}-value chunk, then scaled.</summary>")
            .Line(Hot)
            .Line("public static float DotScalar(long count, byte* weights, byte* activations)");
        using (writer.Braces())
        {
            writer.Line("long blocks = count / BlockSize;").Line("float sum = 0f;").Line("for (long b = 0; b < blocks; b++)");
            using (writer.Braces())
            {
                writer
                    .Line("byte* block = weights + b * TypeSize;")
                    .Line($"float d = {ReferenceEmitter.ScaleExpr(model, "block")};")
                    .Line($"for (int c = 0; c < {Width.Text(chunks)}; c++)");
                using (writer.Braces())
                {
                    writer
                        .Line($"byte* act = activations + (b * {Width.Text(chunks)} + c) * {Width.Text(activation.TypeSize)};")
                        .Line($"sbyte* aq = (sbyte*)({ReferenceEmitter.Address("act", activation.Find(FieldKind.Quants)!.Offset)});")
                        .Line("int isum = 0;")
                        .Line($"for (int i = 0; i < {Width.Text(Chunk)}; i++)");
                    using (writer.Braces())
                    {
                        writer.Line($"isum += {ReferenceEmitter.WeightIntExpr(model, "block", $"(c * {Width.Text(Chunk)} + i)")} * aq[i];");
                    }

                    writer.Line($"sum += isum * (d * {ReferenceEmitter.ScalarField(activation.Find(FieldKind.Scale)!, "act")});");
                }
            }

            writer.Line("return sum;");
        }

        writer.Line();
    }

    private static void EmitDot(SourceWriter writer, KernelModel model, Width width)
    {
        var activation = model.Activation!;
        var chunks = model.Layout.BlockSize / Chunk;
        var aq = activation.Find(FieldKind.Quants)!.Offset;
        var scale = activation.Find(FieldKind.Scale)!;
        writer
            .Line($"/// <summary>Dot product with {activation.Name}, whole blocks, {width.Bits}-bit vectors: int32 sums per {Chunk}-value chunk, then d * d8.</summary>")
            .Line(Hot)
            .Line($"public static float Dot{width.Suffix}(long count, byte* weights, byte* activations)");
        using (writer.Braces())
        {
            writer.Line("long blocks = count / BlockSize;").Line($"var acc = {width.Vec}<float>.Zero;")
                .Line("byte* blk = weights;").Line("byte* act = activations;")
                .Line($"for (long b = 0; b < blocks; b++, blk += TypeSize, act += {Width.Text(chunks * activation.TypeSize)})");
            using (writer.Braces())
            {
                writer.Line($"float d = {ReferenceEmitter.ScaleExpr(model, "blk")};");
                for (var v = 0; v < model.Layout.BlockSize / width.Bytes; v++)
                {
                    var w = EmitVector(writer, model, width, "blk", v * width.Bytes, "w" + Width.Text(v));
                    if (width == Width.V512)
                    {
                        var a0 = ReferenceEmitter.Address("act", 2 * v * activation.TypeSize);
                        var a1 = ReferenceEmitter.Address("act", ((2 * v) + 1) * activation.TypeSize);
                        writer
                            .Line($"var y{v} = Simd.Join(Vector256.Load((sbyte*)({ReferenceEmitter.Address(a0, aq)})), Vector256.Load((sbyte*)({ReferenceEmitter.Address(a1, aq)})));")
                            .Line($"var s{v} = Vector512.Create(Vector256.Create(d * {ReferenceEmitter.ScalarField(scale, a0)}), Vector256.Create(d * {ReferenceEmitter.ScalarField(scale, a1)}));")
                            .Line($"acc = Simd.MultiplyAdd(Vector512.ConvertToSingle(Simd.DotI8({w}, y{v})), s{v}, acc);");
                    }
                    else if (width == Width.V256)
                    {
                        var a = ReferenceEmitter.Address("act", v * activation.TypeSize);
                        writer
                            .Line($"var y{v} = Vector256.Load((sbyte*)({ReferenceEmitter.Address(a, aq)}));")
                            .Line($"acc = Simd.MultiplyAdd(Vector256.ConvertToSingle(Simd.DotI8({w}, y{v})), Vector256.Create(d * {ReferenceEmitter.ScalarField(scale, a)}), acc);");
                    }
                    else if (v % 2 == 1)
                    {
                        // Two halves of one chunk, one activation block.
                        var a = ReferenceEmitter.Address("act", (v / 2) * activation.TypeSize);
                        writer
                            .Line($"var y{v - 1} = Vector128.Load((sbyte*)({ReferenceEmitter.Address(a, aq)}));")
                            .Line($"var y{v} = Vector128.Load((sbyte*)({ReferenceEmitter.Address(a, aq + 16)}));")
                            .Line($"var p{v} = Simd.DotI8(w{v - 1}, y{v - 1}) + Simd.DotI8({w}, y{v});")
                            .Line($"acc = Simd.MultiplyAdd(Vector128.ConvertToSingle(p{v}), Vector128.Create(d * {ReferenceEmitter.ScalarField(scale, a)}), acc);");
                    }
                }
            }

            writer.Line($"return {width.Vec}.Sum(acc);");
        }

        writer.Line();
    }
}
