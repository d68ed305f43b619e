using System.Linq;
using QuantPS.Generators.Model;

namespace QuantPS.Generators.Kernels;

/// <summary>
/// The matrix-vector dot of nibble types with an Offset and no high bits (Q4_0: 4-bit SplitHalves) over a prepared
/// activation row. A token's activation row is shared by every weight row, so it is rearranged
/// once: each group of four blocks' low-half values, then their high-half values (so one load of four blocks' packed
/// nibbles, masked and shifted, lines up with two contiguous activation loads), and per 16 blocks their scales as
/// floats and Offset x their sums, in the order the lane sums come out of the reduction. The 512-bit dot then spends
/// per 16 blocks: 16 nibble loads, 8 pmaddubsw, 4 pmaddwd, a 9-operation transpose-add to one lane per block, the 16
/// weight scales (picked out of the step's lines by two word permutes) made floats by a shift and a mask against
/// activation scales that carry 2^112, and one multiply-add, where Dot looks up two scales and broadcasts their
/// product per pair of blocks. Streamed, 1 thread, k = 2048: Dot 11.7, DotPrepared 16.4 GB/s with gathered scales,
/// 16.8 with permuted scales and prefetching (19.9 from L2); the shift-and-mask scales 20.0 -> 22.6 from L2.
/// <para>
/// Prepared row layout (count values, B blocks, C = B rounded down to 16): C x 32 values, C float scales x 2^112, C int32
/// Offset x sums, then the Q8_0 row itself (the blocks past C, and the narrower widths, use it with Dot).
/// </para>
/// </summary>
internal sealed partial class LegacyKernelEmitter
{
    private const int StepBlocks = 16;

    /// <summary>True when <paramref name="model"/> gets DotPrepared: the nibble shape here or the byte shape (Q8_0).</summary>
    private static bool EmitsPrepared(KernelModel model) => EmitsNibblePrepared(model) || EmitsBytePrepared(model);

    /// <summary>True for 4-bit split-half quants with an Offset, no high bits, one F16 scale, against int8 activations.</summary>
    private static bool EmitsNibblePrepared(KernelModel model)
    {
        var layout = model.Layout;
        var quants = layout.Find(FieldKind.Quants)!;
        return model.HasDot && model.Scheme == "Scaled" && model.Offset != 0 && layout.BlockSize == Chunk
            && quants is { Bits: 4, Order: "SplitHalves" } && layout.Find(FieldKind.HighBits) is null
            && layout.Find(FieldKind.Scale) is { Format: "F16" } && model.Activation!.Find(FieldKind.Sum) is null;
    }

    private static void EmitPrepared(SourceWriter writer, KernelModel model)
    {
        var activation = model.Activation!;
        var quants = model.Layout.Find(FieldKind.Quants)!;
        var actQuants = activation.Find(FieldKind.Quants)!;
        var actScale = ReferenceEmitter.ScalarField(activation.Find(FieldKind.Scale)!, "act");
        writer
            .Line("/// <summary>Bytes of a prepared activation row of <paramref name=\"count\"/> values (see PrepareActivationRow).</summary>")
            .Line($"public static long PreparedActivationBytes(long count) => count / BlockSize / {StepBlocks} * {StepBlocks} * 40 + count / BlockSize * {Width.Text(activation.TypeSize)};")
            .Line()
            .Line($"/// <summary>A {activation.Name} activation row rearranged for DotPrepared (layout in LegacyKernelEmitter.Prepared).</summary>")
            .Line("public static void PrepareActivationRow(byte* quantized, byte* prepared, long count)");
        using (writer.Braces())
        {
            writer
                .Line("long blocks = count / BlockSize;")
                .Line($"long covered = blocks / {StepBlocks} * {StepBlocks};")
                .Line("sbyte* values = (sbyte*)prepared;")
                .Line("float* scales = (float*)(prepared + covered * BlockSize);")
                .Line("int* sums = (int*)(scales + covered);")
                .Line("for (long b = 0; b < covered; b++)");
            using (writer.Braces())
            {
                writer
                    .Line($"byte* act = quantized + b * {Width.Text(activation.TypeSize)};")
                    .Line($"sbyte* q = (sbyte*)({ReferenceEmitter.Address("act", actQuants.Offset)});")
                    .Line("sbyte* group = values + (b / 4) * 128 + (b % 4) * 16;")
                    .Line("var low = Vector128.Load(q);")
                    .Line("var high = Vector128.Load(q + 16);")
                    .Line("low.Store(group);")
                    .Line("high.Store(group + 64);")
                    // Eight lanes of at most four int8 each: the int16 sum cannot overflow.
                    .Line("int sum = Vector128.Sum(Vector128.WidenLower(low) + Vector128.WidenUpper(low) + Vector128.WidenLower(high) + Vector128.WidenUpper(high));");

                // Lane 4j + k of a step's reduced sums is its block 4k + j.
                writer
                    .Line($"long lane = b / {StepBlocks} * {StepBlocks} + (b % 4) * 4 + (b % {StepBlocks}) / 4;")
                    .Line($"scales[lane] = {PreparedScale(actScale)};")
                    .Line($"sums[lane] = {Width.Text(model.Offset)} * sum;");
            }

            writer.Line($"Buffer.MemoryCopy(quantized, sums + covered, blocks * {Width.Text(activation.TypeSize)}, blocks * {Width.Text(activation.TypeSize)});");
        }

        writer.Line();
        EmitPreparedNarrowWidths(writer, activation);

        writer
            .Line("private static byte* PreparedCopy(long count, byte* prepared) => prepared + count / BlockSize / " + Width.Text(StepBlocks) + " * " + Width.Text(StepBlocks) + " * 40;")
            .Line()
            .Line($"/// <summary>Dot product with a prepared {activation.Name} row, 16 blocks per step (see LegacyKernelEmitter.Prepared).</summary>")
            .Line(Hot)
            .Line("public static float DotPreparedV512(long count, byte* weights, byte* prepared)");
        using (writer.Braces())
        {
            writer
                .Line("if (!global::System.Runtime.Intrinsics.X86.Avx512BW.IsSupported)")
                .Line("{")
                .Line("    return DotV512(count, weights, PreparedCopy(count, prepared));")
                .Line("}")
                .Line()
                .Line("long blocks = count / BlockSize;")
                .Line($"long steps = blocks / {StepBlocks};")
                .Line($"long covered = steps * {StepBlocks};")
                .Line("sbyte* values = (sbyte*)prepared;")
                .Line("float* scales = (float*)(prepared + covered * BlockSize);")
                .Line("int* sums = (int*)(scales + covered);")
                .Line("var low = Vector512.Create((byte)0x0F);")
                .Line("var ones = Vector512.Create((short)1);")
                .Line("var acc = Vector512<float>.Zero;")
                .Line("var special = Vector512<uint>.Zero;")
                .Line("byte* row = weights;")
                .Line($"for (long s = 0; s < steps; s++, row += {StepBlocks} * TypeSize, values += {StepBlocks * Chunk}, scales += {StepBlocks}, sums += {StepBlocks})");
            using (writer.Braces())
            {
                KernelSupportEmitter.EmitPrefetch(writer, "row", StepBlocks * model.Layout.TypeSize);

                // Four blocks' packed nibbles (16 bytes every TypeSize) joined into one vector. (A VBMI two-source byte
                // permute of two overlapping 64-byte loads was slower streamed: 12-13.5 against 16.5 GB/s.)
                var qs = quants.Offset;
                var typeSize = model.Layout.TypeSize;
                for (var k = 0; k < 4; k++)
                {
                    string Nibbles(int j) => $"Vector128.Load(row + {Width.Text(((4 * k) + j) * typeSize + qs)})";
                    writer
                        .Line($"var q{k} = Simd.Join(Simd.Join({Nibbles(0)}, {Nibbles(1)}), Simd.Join({Nibbles(2)}, {Nibbles(3)}));")
                        .Line($"var pairs{k} = global::System.Runtime.Intrinsics.X86.Avx512BW.MultiplyAddAdjacent(q{k} & low, Vector512.Load(values + {Width.Text(k * 128)}))")
                        .Line($"    + global::System.Runtime.Intrinsics.X86.Avx512BW.MultiplyAddAdjacent(Vector512.ShiftRightLogical(q{k}.AsUInt16(), 4).AsByte() & low, Vector512.Load(values + {Width.Text((k * 128) + 64)}));")
                        .Line($"var p{k} = global::System.Runtime.Intrinsics.X86.Avx512BW.MultiplyAddAdjacent(pairs{k}, ones);");
                }

                // 128-bit lane j of p{k} holds block 4k + j's four partial sums; the transpose-add leaves block 4k + j in lane 4j + k.
                writer
                    .Line("var t0 = global::System.Runtime.Intrinsics.X86.Avx512F.UnpackLow(p0, p1) + global::System.Runtime.Intrinsics.X86.Avx512F.UnpackHigh(p0, p1);")
                    .Line("var t1 = global::System.Runtime.Intrinsics.X86.Avx512F.UnpackLow(p2, p3) + global::System.Runtime.Intrinsics.X86.Avx512F.UnpackHigh(p2, p3);")
                    .Line("var isum = global::System.Runtime.Intrinsics.X86.Avx512F.UnpackLow(t0.AsInt64(), t1.AsInt64()).AsInt32() + global::System.Runtime.Intrinsics.X86.Avx512F.UnpackHigh(t0.AsInt64(), t1.AsInt64()).AsInt32() + Vector512.Load(sums);");
                EmitPreparedScales(writer, model, lane => (4 * (lane % 4)) + (lane / 4));
            }

            EmitPreparedResult(writer, activation);
        }

        writer.Line();
        EmitPreparedDispatch(writer);
    }

    // The narrower widths run Dot on the prepared row's copy of the activation row.
    private static void EmitPreparedNarrowWidths(SourceWriter writer, LayoutModel activation)
    {
        foreach (var width in new[] { "Scalar", "V128", "V256" })
        {
            writer
                .Line($"/// <summary>Dot{width} on the prepared row's copy of the {activation.Name} row.</summary>")
                .Line($"public static float DotPrepared{width}(long count, byte* weights, byte* prepared) => Dot{width}(count, weights, PreparedCopy(count, prepared));")
                .Line();
        }
    }

    // A step's end: the 16 weight scales to lanes, converted, times the activation scales, times the block sums. Each
    // 128-byte window of whole blocks gives its blocks' F16 scales in one two-source word permute of two loads (the
    // lines are in cache: the step reads them), the lanes taking their window's by blend. Two 8-lane gathers did the
    // same for Q4_0 17 % slower from L2 (16.5 against 19.9 GB/s: Zen 4 microcodes gathers).
    private static void EmitPreparedScales(SourceWriter writer, KernelModel model, System.Func<int, int> blockOfLane)
    {
        var typeSize = model.Layout.TypeSize;
        var scaleOffset = model.Layout.Find(FieldKind.Scale)!.Offset;
        var perWindow = ((128 - scaleOffset - 2) / typeSize) + 1;
        var windows = (StepBlocks + perWindow - 1) / perWindow;
        if (typeSize % 2 != 0 || scaleOffset % 2 != 0 || ((windows - 1) * perWindow * typeSize) + 128 > StepBlocks * typeSize)
        {
            throw new System.InvalidOperationException($"{model.Name}: scale windows need word-aligned scales inside the step");
        }

        const string X86 = "global::System.Runtime.Intrinsics.X86.";
        for (var w = 0; w < windows; w++)
        {
            var start = w * perWindow * typeSize;
            var words = Enumerable.Range(0, 2 * StepBlocks).Select(word =>
            {
                var block = blockOfLane(word / 2) - (w * perWindow);
                return Width.Text(block >= 0 && block < perWindow ? ((block * typeSize) + scaleOffset) / 2 : 0);
            });
            writer.Line($"var window{w} = {X86}Avx512BW.PermuteVar32x16x2(Vector512.Load((short*)(row + {Width.Text(start)})), Vector512.Create((short){string.Join(", ", words)}), Vector512.Load((short*)(row + {Width.Text(start + 64)}))).AsUInt32();");
        }

        var combined = "window0";
        for (var w = 1; w < windows; w++)
        {
            var lanes = Enumerable.Range(0, StepBlocks).Select(lane => blockOfLane(lane) / perWindow == w ? "uint.MaxValue" : "0u");
            combined = $"Vector512.ConditionalSelect(Vector512.Create({string.Join(", ", lanes)}), window{w}, {combined})";
        }

        // Each lane holds its half in both words, so an arithmetic shift right by 3 and a mask make it the float
        // half x 2^-112 (exact, subnormals too) against activation scales that carry 2^112: the same products as the
        // full conversion in 2 operations instead of 9. Inf and NaN would come out finite, so their exponent is
        // tracked and such a row is redone by Dot (EmitPreparedResult).
        writer
            .Line($"var scaleBits = {combined};")
            .Line("special = Vector512.Max(special, scaleBits & Vector512.Create(0x7C00u));")
            .Line("var weightScales = (Vector512.ShiftRightArithmetic(scaleBits.AsInt32(), 3) & Vector512.Create(unchecked((int)0x8FFFE000))).AsSingle();")
            .Line("acc += Vector512.ConvertToSingle(isum) * (weightScales * Vector512.Load(scales));");
    }

    // The activation scale a prepared row stores: times 2^112, exact for every F16 value (65504 x 2^112 < 2^128).
    private static string PreparedScale(string actScale) => $"({actScale}) * 5.192296858534828e33f";

    // The lane sum, plus the blocks past the whole steps through the scalar dot on the row's copy.
    private static void EmitPreparedResult(SourceWriter writer, LayoutModel activation) => writer
        .Line("if (Vector512.EqualsAny(special, Vector512.Create(0x7C00u)))")
        .Line("{")
        .Line("    return DotV512(count, weights, PreparedCopy(count, prepared));")
        .Line("}")
        .Line()
        .Line("float result = Vector512.Sum(acc);")
        .Line("if (covered < blocks)")
        .Line("{")
        .Line($"    result += DotScalar((blocks - covered) * BlockSize, weights + covered * TypeSize, PreparedCopy(count, prepared) + covered * {Width.Text(activation.TypeSize)});")
        .Line("}")
        .Line()
        .Line("return result;");

    // The dispatch of DotPrepared and the delegates the type table hangs on the type.
    private static void EmitPreparedDispatch(SourceWriter writer)
    {
        writer
            .Line("private static readonly global::QuantPS.Kernels.DotKernel[] DotPreparedByWidth = { DotPreparedScalar, DotPreparedV128, DotPreparedV256, DotPreparedV512 };")
            .Line()
            .Line("/// <summary>The DotPrepared kernel instantiated at <paramref name=\"width\"/>.</summary>")
            .Line("public static global::QuantPS.Kernels.DotKernel DotPreparedAt(global::QuantPS.Kernels.VectorWidth width) => DotPreparedByWidth[global::QuantPS.Kernels.KernelWidth.Index(width)];")
            .Line()
            .Line("/// <summary>The DotPrepared kernel at <see cref=\"global::QuantPS.Kernels.KernelWidth.Active\"/>.</summary>")
            .Line("public static readonly global::QuantPS.Kernels.DotKernel DotPrepared = DotPreparedAt(global::QuantPS.Kernels.KernelWidth.Active);")
            .Line()
            .Line("/// <summary>PrepareActivationRow as a kernel delegate.</summary>")
            .Line("public static readonly global::QuantPS.Kernels.PrepareActivationKernel PrepareActivation = PrepareActivationRow;")
            .Line()
            .Line("/// <summary>PreparedActivationBytes as a delegate.</summary>")
            .Line("public static readonly global::System.Func<long, long> PreparedBytes = PreparedActivationBytes;")
            .Line();
    }
}
