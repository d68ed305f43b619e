using System.Linq;
using QuantPS.Generators.Model;

namespace QuantPS.Generators.Kernels;

/// <summary>
/// DotPrepared for 8-bit signed quants with one F16 scale and no Offset (Q8_0). The activation row is widened once to
/// int16 (and its scales to floats), so each weight block is one sign-extending load and one <c>pmaddwd</c> with no
/// sign trick; per 16 blocks a transpose-add (int32 unpacks, int64 unpacks, a 4 x 4 transpose of 128-bit lanes)
/// leaves one lane per block in block order, then the weight scales by word permutes and a shift and a mask (see
/// EmitPreparedScales) and one multiply-add. Prepared row layout (B blocks, C = B rounded down to 16): C x 32 int16
/// values, C float scales x 2^112, then the activation row itself (the blocks past C, and the narrower widths, use it
/// with Dot).
/// </summary>
internal sealed partial class LegacyKernelEmitter
{
    private static bool EmitsBytePrepared(KernelModel model)
    {
        var layout = model.Layout;
        return model.HasDot && model.Scheme == "Scaled" && model.Offset == 0 && layout.BlockSize == Chunk
            && layout.Find(FieldKind.Quants) is { Bits: 8, Signed: true, Order: "Sequential" } && layout.Find(FieldKind.HighBits) is null
            && layout.Find(FieldKind.Scale) is { Format: "F16" } && model.Activation!.Find(FieldKind.Sum) is null;
    }

    private static void EmitPreparedBytes(SourceWriter writer, KernelModel model)
    {
        var activation = model.Activation!;
        var quants = model.Layout.Find(FieldKind.Quants)!;
        var actQuants = activation.Find(FieldKind.Quants)!;
        var actScale = ReferenceEmitter.ScalarField(activation.Find(FieldKind.Scale)!, "act");
        var typeSize = model.Layout.TypeSize;
        writer
            .Line("/// <summary>Bytes of a prepared activation row of <paramref name=\"count\"/> values (see PrepareActivationRow).</summary>")
            .Line($"public static long PreparedActivationBytes(long count) => count / BlockSize / {StepBlocks} * {StepBlocks} * 68 + count / BlockSize * {Width.Text(activation.TypeSize)};")
            .Line()
            .Line("private static byte* PreparedCopy(long count, byte* prepared) => prepared + count / BlockSize / " + Width.Text(StepBlocks) + " * " + Width.Text(StepBlocks) + " * 68;")
            .Line()
            .Line($"/// <summary>A {activation.Name} activation row widened for DotPrepared: int16 values and float scales of the whole 16-block steps, then the row.</summary>")
            .Line("public static void PrepareActivationRow(byte* quantized, byte* prepared, long count)");
        using (writer.Braces())
        {
            writer
                .Line("long blocks = count / BlockSize;")
                .Line($"long covered = blocks / {StepBlocks} * {StepBlocks};")
                .Line("short* values = (short*)prepared;")
                .Line("float* scales = (float*)(values + covered * BlockSize);")
                .Line("for (long b = 0; b < covered; b++)");
            using (writer.Braces())
            {
                writer
                    .Line($"byte* act = quantized + b * {Width.Text(activation.TypeSize)};")
                    .Line($"sbyte* q = (sbyte*)({ReferenceEmitter.Address("act", actQuants.Offset)});")
                    .Line("var low = Vector128.Load(q);")
                    .Line("var high = Vector128.Load(q + 16);")
                    .Line("short* v = values + b * BlockSize;")
                    .Line("Vector128.WidenLower(low).Store(v);")
                    .Line("Vector128.WidenUpper(low).Store(v + 8);")
                    .Line("Vector128.WidenLower(high).Store(v + 16);")
                    .Line("Vector128.WidenUpper(high).Store(v + 24);")
                    .Line($"scales[b] = {PreparedScale(actScale)};");
            }

            writer.Line($"Buffer.MemoryCopy(quantized, scales + covered, blocks * {Width.Text(activation.TypeSize)}, blocks * {Width.Text(activation.TypeSize)});");
        }

        writer.Line();
        EmitPreparedNarrowWidths(writer, activation);

        const string X86 = "global::System.Runtime.Intrinsics.X86.";
        writer
            .Line($"/// <summary>Dot product with a prepared {activation.Name} row, 16 blocks per step (see LegacyKernelEmitter.PreparedBytes).</summary>")
            .Line(Hot)
            .Line("public static float DotPreparedV512(long count, byte* weights, byte* prepared)");
        using (writer.Braces())
        {
            writer
                .Line($"if (!{X86}Avx512BW.IsSupported)")
                .Line("{")
                .Line("    return DotV512(count, weights, PreparedCopy(count, prepared));")
                .Line("}")
                .Line()
                .Line("long blocks = count / BlockSize;")
                .Line($"long steps = blocks / {StepBlocks};")
                .Line($"long covered = steps * {StepBlocks};")
                .Line("short* values = (short*)prepared;")
                .Line("float* scales = (float*)(values + covered * BlockSize);")
                .Line("var acc = Vector512<float>.Zero;")
                .Line("var special = Vector512<uint>.Zero;")
                .Line("byte* row = weights;")
                .Line($"for (long s = 0; s < steps; s++, row += {StepBlocks} * TypeSize, values += {StepBlocks * Chunk}, scales += {StepBlocks})");
            using (writer.Braces())
            {
                KernelSupportEmitter.EmitPrefetch(writer, "row", StepBlocks * typeSize);
                for (var b = 0; b < StepBlocks; b++)
                {
                    writer.Line($"var p{b} = {X86}Avx512BW.MultiplyAddAdjacent({X86}Avx512BW.ConvertToVector512Int16(Vector256.Load((sbyte*)(row + {Width.Text((b * typeSize) + quants.Offset)}))), Vector512.Load(values + {Width.Text(b * Chunk)}));");
                }

                // 16 vectors of one block each to one lane per block: within 128-bit lanes, then across them.
                for (var i = 0; i < 8; i++)
                {
                    writer.Line($"var a{i} = {X86}Avx512F.UnpackLow(p{2 * i}, p{(2 * i) + 1}) + {X86}Avx512F.UnpackHigh(p{2 * i}, p{(2 * i) + 1});");
                }

                for (var i = 0; i < 4; i++)
                {
                    writer.Line($"var c{i} = {X86}Avx512F.UnpackLow(a{2 * i}.AsInt64(), a{(2 * i) + 1}.AsInt64()).AsInt32() + {X86}Avx512F.UnpackHigh(a{2 * i}.AsInt64(), a{(2 * i) + 1}.AsInt64()).AsInt32();");
                }

                // 128-bit lane L of c{i} holds lane L's partial sums of blocks 4i..4i+3; transposing the lanes and adding
                // leaves block 4i + j's total in lane 4i + j.
                writer
                    .Line($"var x0 = {X86}Avx512F.Shuffle4x128(c0, c1, 0x88);")
                    .Line($"var x1 = {X86}Avx512F.Shuffle4x128(c0, c1, 0xDD);")
                    .Line($"var x2 = {X86}Avx512F.Shuffle4x128(c2, c3, 0x88);")
                    .Line($"var x3 = {X86}Avx512F.Shuffle4x128(c2, c3, 0xDD);")
                    .Line($"var isum = ({X86}Avx512F.Shuffle4x128(x0, x2, 0x88) + {X86}Avx512F.Shuffle4x128(x0, x2, 0xDD)) + ({X86}Avx512F.Shuffle4x128(x1, x3, 0x88) + {X86}Avx512F.Shuffle4x128(x1, x3, 0xDD));");
                EmitPreparedScales(writer, model, lane => lane);
            }

            EmitPreparedResult(writer, activation);
        }

        writer.Line();
        EmitPreparedDispatch(writer);
    }
}
