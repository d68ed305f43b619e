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
internal sealed class SubByteKernelEmitter : BlockKernelFamily
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

    public override string? DotProblem(KernelModel model) => ChunkDotProblem(model, Chunk, "chunks");

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

    protected override void EmitDequantize(SourceWriter writer, KernelModel model, Width width) => DequantizeRow(
        writer, width, "Dequantizes whole blocks, " + Width.Text(width.Bits) + "-bit vectors: d times the decoded weight.", () =>
        {
            writer.Line($"var d = {width.Vec}.Create({ReferenceEmitter.ScaleExpr(model, "blk")});");
            for (var v = 0; v < model.Layout.BlockSize / width.Bytes; v++)
            {
                var q = EmitVector(writer, model, width, "blk", v * width.Bytes, "q" + Width.Text(v));
                StoreWidened(writer, width, v, q, (floats, _) => $"({floats} * d)");
            }
        });

    protected override void EmitDotScalar(SourceWriter writer, KernelModel model)
    {
        var activation = model.Activation!;
        var chunks = model.Layout.BlockSize / Chunk;
        DotScalarRow(writer, $"Scalar fallback dot product with {activation.Name}: int products summed per {Chunk}-value chunk, then scaled.", () =>
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
        });
    }

    protected override void EmitDot(SourceWriter writer, KernelModel model, Width width)
    {
        var activation = model.Activation!;
        var chunks = model.Layout.BlockSize / Chunk;
        var aq = activation.Find(FieldKind.Quants)!.Offset;
        var scale = activation.Find(FieldKind.Scale)!;
        var summary = $"Dot product with {activation.Name}, whole blocks, {width.Bits}-bit vectors: int32 sums per {Chunk}-value chunk, then d * d8.";
        DotRow(writer, width, model.Layout.TypeSize, summary, chunks * activation.TypeSize, () =>
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
        });
    }
}
