using System.Linq;
using QuantPS.Generators.Model;

namespace QuantPS.Generators.Kernels;

/// <summary>
/// Microscaled 4-bit blocks with no block scale: sub-blocks of 16 values, each under its own UE4M3 scale, whose nibbles
/// (SplitHalves16) index a 16-entry codebook (NVFP4): <c>x = s[j] * codebook[q]</c>. A sub-block's 8 bytes split into
/// low and high nibbles in two 64-bit words and look up the codebook (pshufb). The dot product pairs each 32 values
/// with one Q8_0 block: int8 times int8 in int32 per sub-block, then <c>d8 * s[j]</c> in float, as ggml's does.
/// </summary>
internal sealed class MicroscaledKernelEmitter : BlockKernelFamily
{
    private const int Group = 16;
    private const int Chunk = 32;

    public override string Name => "Microscaled";

    public override bool EmitsWeights(KernelModel model)
    {
        var layout = model.Layout;
        var quants = layout.Find(FieldKind.Quants);
        var sub = layout.Find(FieldKind.SubScales);
        return model.Scheme == "SubScaledCodebook" && quants is not null && sub is { Format: "UE4M3", Bits: 8, WithMins: false }
            && layout.Fields.All(field => field.Kind is FieldKind.SubScales or FieldKind.Quants)
            && layout.BlockSize == 64 && quants.Count == 64 && sub.Count == layout.BlockSize / Group
            && quants.Bits == 4 && quants.Order == "SplitHalves16" && model.Codebook.Count == 16;
    }

    public override string? DotProblem(KernelModel model) => ChunkDotProblem(model, Chunk, "halves");

    /// <summary>The int8 codebook values of sub-blocks <c>first / 16</c> on, one per 128-bit lane.</summary>
    private static string EmitWeights(SourceWriter writer, KernelModel model, Width width, int first, string name)
    {
        var quants = model.Layout.Find(FieldKind.Quants)!;
        var words = Enumerable.Range(0, width.Bytes / 16).Select(k =>
        {
            var word = $"{name}n{k}";
            writer.Line($"ulong {word} = Unsafe.ReadUnaligned<ulong>({ReferenceEmitter.Address("blk", quants.Offset + (((first / Group) + k) * 8))});");
            return $"{word} & 0x0F0F0F0F0F0F0F0FUL, ({word} >> 4) & 0x0F0F0F0F0F0F0F0FUL";
        });
        writer.Line($"var {name} = Simd.Lookup16(Simd.Broadcast{width.Suffix}(Codebook), {width.Vec}.Create({string.Join(", ", words)}).AsByte());");
        return name;
    }

    protected override void EmitDequantize(SourceWriter writer, KernelModel model, Width width)
    {
        var sub = model.Layout.Find(FieldKind.SubScales)!;
        var summary = "Dequantizes whole blocks, " + Width.Text(width.Bits) + "-bit vectors: the sub-block's scale times the codebook value.";
        DequantizeRow(writer, width, summary, () =>
        {
            for (var j = 0; j < sub.Count; j++)
            {
                writer.Line($"var dl{j} = {width.Vec}.Create({ReferenceEmitter.SubScaleFloat(model, "blk", Width.Text(j))});");
            }

            for (var v = 0; v < model.Layout.BlockSize / width.Bytes; v++)
            {
                var q = EmitWeights(writer, model, width, v * width.Bytes, "q" + Width.Text(v));
                // At most 16 floats: inside one sub-block.
                StoreWidened(writer, width, v, q, (floats, first) => $"({floats} * dl{first / Group})");
            }
        });
    }

    protected override void EmitDotScalar(SourceWriter writer, KernelModel model)
    {
        var activation = model.Activation!;
        var sub = model.Layout.Find(FieldKind.SubScales)!;
        var summary = $"Scalar fallback dot product with {activation.Name}: int products per sub-block, then times d8 and the sub-block's scale.";
        DotScalarRow(writer, summary, () =>
        {
            writer.Line("byte* block = weights + b * TypeSize;").Line($"for (int j = 0; j < {Width.Text(sub.Count)}; j++)");
            using (writer.Braces())
            {
                writer
                    .Line($"byte* act = activations + (b * {Width.Text(model.Layout.BlockSize / Chunk)} + j / {Width.Text(Chunk / Group)}) * {Width.Text(activation.TypeSize)};")
                    .Line($"sbyte* aq = (sbyte*)({ReferenceEmitter.Address("act", activation.Find(FieldKind.Quants)!.Offset)}) + (j % {Width.Text(Chunk / Group)}) * {Width.Text(Group)};")
                    .Line("int isum = 0;")
                    .Line($"for (int i = 0; i < {Width.Text(Group)}; i++)");
                using (writer.Braces())
                {
                    writer.Line($"isum += {ReferenceEmitter.WeightIntExpr(model, "block", $"(j * {Width.Text(Group)} + i)")} * aq[i];");
                }

                writer.Line($"sum += {ReferenceEmitter.ScalarField(activation.Find(FieldKind.Scale)!, "act")} * {ReferenceEmitter.SubScaleFloat(model, "block", "j")} * isum;");
            }
        });
    }

    protected override void EmitDot(SourceWriter writer, KernelModel model, Width width)
    {
        var activation = model.Activation!;
        var sub = model.Layout.Find(FieldKind.SubScales)!;
        var scale = activation.Find(FieldKind.Scale)!;
        var aq = activation.Find(FieldKind.Quants)!.Offset;
        var chunks = model.Layout.BlockSize / Chunk;
        var summary = $"Dot product with {activation.Name}, whole blocks, {width.Bits}-bit vectors: int32 sums per sub-block, then d8 * s[j] in float.";
        DotRow(writer, width, model.Layout.TypeSize, summary, chunks * activation.TypeSize, () =>
        {
            for (var k = 0; k < chunks; k++)
            {
                writer.Line($"float d8{k} = {ReferenceEmitter.ScalarField(scale, ReferenceEmitter.Address("act", k * activation.TypeSize))};");
            }

            for (var j = 0; j < sub.Count; j++)
            {
                writer.Line($"float s{j} = d8{(j * Group) / Chunk} * {ReferenceEmitter.SubScaleFloat(model, "blk", Width.Text(j))};");
            }

            for (var v = 0; v < model.Layout.BlockSize / width.Bytes; v++)
            {
                var first = v * width.Bytes;
                var w = EmitWeights(writer, model, width, first, "w" + Width.Text(v));
                string y;
                if (width == Width.V512)
                {
                    y = $"Simd.Join(Vector256.Load((sbyte*)({ReferenceEmitter.Address("act", aq)})), Vector256.Load((sbyte*)({ReferenceEmitter.Address("act", activation.TypeSize + aq)})))";
                }
                else
                {
                    var k = first / Chunk;
                    y = $"{width.Vec}.Load((sbyte*)({ReferenceEmitter.Address("act", (k * activation.TypeSize) + aq + (first % Chunk))}))";
                }

                var lanes = Enumerable.Range(0, width.Bytes / Group).Select(l => $"Vector128.Create(s{(first / Group) + l})").ToList();
                var scales = width == Width.V128 ? lanes[0]
                    : width == Width.V256 ? $"Vector256.Create({lanes[0]}, {lanes[1]})"
                    : $"Vector512.Create(Vector256.Create({lanes[0]}, {lanes[1]}), Vector256.Create({lanes[2]}, {lanes[3]}))";
                writer.Line($"var y{v} = {y};")
                    .Line($"acc = Simd.MultiplyAdd({width.Vec}.ConvertToSingle(Simd.DotI8({w}, y{v})), {scales}, acc);");
            }
        });
    }
}
