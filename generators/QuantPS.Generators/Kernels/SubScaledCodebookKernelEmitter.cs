using System.Collections.Generic;
using System.Linq;
using QuantPS.Generators.Model;

namespace QuantPS.Generators.Kernels;

/// <summary>
/// 256-value super-blocks of 8 sub-blocks of 32, each with an integer sub-scale, whose 4-bit quants index a 16-entry
/// codebook (IQ4_XS): <c>x = d * s[j] * codebook[q]</c>, the nibbles in SplitHalves32 order. A sub-block's 16 bytes
/// split into low and high nibbles and look up the codebook (pshufb); the dot product with Q8_K multiplies the int8
/// codebook values with the int8 activations in int32 per sub-block, times the sub-scale, summed per super-block,
/// then <c>d * d8</c> in float, as ggml's does. At 512 bits (sorted codebooks, see SignedByIndex) a vector holds two
/// sub-blocks and the products' signs come from the indices; the results equal the 256-bit loop's bit for bit.
/// </summary>
internal sealed class SubScaledCodebookKernelEmitter : BlockKernelFamily
{
    private const int Group = 32;

    public override string Name => "SubScaledCodebook";

    public override bool EmitsWeights(KernelModel model)
    {
        var layout = model.Layout;
        var quants = layout.Find(FieldKind.Quants);
        var sub = layout.Find(FieldKind.SubScales);
        return model.Scheme == "SubScaledCodebook" && quants is not null && sub is not null && !sub.WithMins
            && layout.Fields.All(field => field.Kind is FieldKind.Scale or FieldKind.SubScales or FieldKind.Quants)
            && layout.Find(FieldKind.Scale) is { Format: "F16" }
            && layout.BlockSize == 256 && quants.Count == 256 && sub.Count == layout.BlockSize / Group
            && quants.Bits == 4 && quants.Order == "SplitHalves32" && model.Codebook.Count == 16;
    }

    public override string? DotProblem(KernelModel model) => SuperBlockDotProblem(model, needsSums: false);

    /// <summary>The int8 codebook values of values <c>first .. first + width.Bytes</c> of the block at <c>blk</c>.</summary>
    private static string EmitWeights(SourceWriter writer, KernelModel model, Width width, int first, string name)
    {
        var quants = model.Layout.Find(FieldKind.Quants)!;
        if (width == Width.V512)
        {
            var low = EmitWeights(writer, model, Width.V256, first, name + "a");
            var high = EmitWeights(writer, model, Width.V256, first + Group, name + "b");
            writer.Line($"var {name} = Simd.Join({low}, {high});");
            return name;
        }

        var run = first / Group;
        var bytes = $"{name}q";
        writer.Line($"var {bytes} = Vector128.Load({ReferenceEmitter.Address("blk", quants.Offset + (16 * run))});");
        var lowNibbles = $"({bytes} & Vector128.Create((byte)0x0F))";
        var highNibbles = $"(Vector128.ShiftRightLogical({bytes}.AsUInt16(), 4).AsByte() & Vector128.Create((byte)0x0F))";
        var index = width == Width.V256 ? $"Vector256.Create({lowNibbles}, {highNibbles})"
            : (first % Group) == 0 ? lowNibbles : highNibbles;
        writer.Line($"var {name} = Simd.Lookup16(Simd.Broadcast{width.Suffix}(Codebook), {index});");
        return name;
    }

    protected override void EmitDequantize(SourceWriter writer, KernelModel model, Width width)
    {
        var sub = model.Layout.Find(FieldKind.SubScales)!;
        var summary = "Dequantizes whole super-blocks, " + Width.Text(width.Bits) + "-bit vectors: d * s[j] per sub-block, times the codebook value.";
        DequantizeRow(writer, width, summary, () =>
        {
            // d * s[j] in float first, then times the value: ggml's order of operations.
            writer.Line($"float d = {ReferenceEmitter.ScaleExpr(model, "blk")};");
            for (var j = 0; j < sub.Count; j++)
            {
                writer.Line($"var dl{j} = {width.Vec}.Create(d * SubScale({ReferenceEmitter.Address("blk", sub.Offset)}, {Width.Text(j)}));");
            }

            for (var v = 0; v < model.Layout.BlockSize / width.Bytes; v++)
            {
                var q = EmitWeights(writer, model, width, v * width.Bytes, "q" + Width.Text(v));
                StoreWidened(writer, width, v, q, (floats, first) => $"(dl{first / Group} * {floats})");
            }
        });
    }

    // IQ4_XS's packing (ScalesHighLow: 2 high bits of each 6-bit scale in a ushort, the low 4 in nibbles after it),
    // unpacked for all eight sub-blocks at once with shifts and masks: a vector dot then spreads them with one
    // table lookup per vector, where eight scalar extractions and broadcasts cost more than the products.
    private static bool PacksHighLow(KernelField sub) => sub.Order == "ScalesHighLow" && sub.Count == 8 && sub.Bits == 6;

    private static void EmitSubScaleBytes(SourceWriter writer, KernelField sub)
    {
        writer
            .Line($"/// <summary>Byte j = sub-block j's 6-bit scale (SubScale + {Width.Text(-sub.ValueOffset)}), j = 0..7.</summary>")
            .Line("[MethodImpl(MethodImplOptions.AggressiveInlining)]")
            .Line("private static ulong SubScaleBytes(byte* scales)");
        using (writer.Braces())
        {
            writer
                .Line("// The low nibbles: byte i of scales_l to byte 2i, then its high nibble to byte 2i + 1.")
                .Line("ulong low = Unsafe.ReadUnaligned<uint>(scales + 2);")
                .Line("low = (low | (low << 16)) & 0x0000FFFF0000FFFFUL;")
                .Line("low = (low | (low << 8)) & 0x00FF00FF00FF00FFUL;")
                .Line("low = (low & 0x000F000F000F000FUL) | ((low & 0x00F000F000F000F0UL) << 4);")
                .Line("// The 2-bit high parts: field j of scales_h to the low bits of byte j.")
                .Line("ulong high = Unsafe.ReadUnaligned<ushort>(scales);")
                .Line("high = (high | (high << 24)) & 0x000000FF000000FFUL;")
                .Line("high = (high | (high << 12)) & 0x000F000F000F000FUL;")
                .Line("high = (high | (high << 6)) & 0x0303030303030303UL;")
                .Line("return low | (high << 4);");
        }

        writer.Line();
    }

    /// <summary>A constant index vector whose 16-bit lanes pick byte <paramref name="j"/> (low half) and zero (high half).</summary>
    private static string ScaleIndex(Width width, int j) =>
        $"{width.Vec}.Create(0x{0x8000 | j:X4}{0x8000 | j:X4}{0x8000 | j:X4}{0x8000 | j:X4}UL).AsByte()";

    /// <summary>The 512-bit loop's constants, declared before it so they stay in registers.</summary>
    private static string[] LoopSetup(KernelModel model, Width width)
    {
        if (width != Width.V512)
        {
            return System.Array.Empty<string>();
        }

        var sub = model.Layout.Find(FieldKind.SubScales)!;
        var lines = new List<string>
        {
            "var nibbles = Simd.NibblePairs.Create();",
            "var magnitudes = Simd.BroadcastV512(CodebookMagnitudes);",
            $"var negatives = Vector512.Create((byte){Width.Text(Negatives(model))});",
            $"var scaleOffset = Vector512.Create((short){Width.Text(-sub.ValueOffset)});",
        };
        for (var v = 0; v < model.Layout.BlockSize / width.Bytes; v++)
        {
            lines.Add($"var pairScales{v} = {PairScaleIndex(2 * v)};");
        }

        return lines.ToArray();
    }

    /// <summary>As <see cref="ScaleIndex"/> at 512 bits for sub-blocks j (low 256 bits) and j + 1 (high), one constant.</summary>
    private static string PairScaleIndex(int j)
    {
        string Lane(int index) => $"0x{0x8000 | index:X4}{0x8000 | index:X4}{0x8000 | index:X4}{0x8000 | index:X4}UL";
        return $"Vector512.Create({string.Join(", ", Enumerable.Repeat(Lane(j), 4).Concat(Enumerable.Repeat(Lane(j + 1), 4)))}).AsByte()";
    }

    public override bool EmitsDotRows => true;

    protected override void EmitHelpers(SourceWriter writer, KernelModel model)
    {
        if (model.HasDot && PacksHighLow(model.Layout.Find(FieldKind.SubScales)!))
        {
            EmitSubScaleBytes(writer, model.Layout.Find(FieldKind.SubScales)!);
        }

        if (model.HasDot && SignedByIndex(model))
        {
            writer
                .Line($"// |codebook| for the 512-bit dots; entries below {Width.Text(Negatives(model))} are the negative ones (the codebook is sorted).")
                .Line("private static readonly Vector128<sbyte> CodebookMagnitudes = Vector128.Create(" + string.Join(", ", model.Codebook.Select(value => "(sbyte)" + Width.Text(System.Math.Abs(value)))) + ");")
                .Line();
        }
    }

    // The 512-bit dots take each value's sign from its index rather than from the looked-up value: with the codebook
    // sorted, index < Negatives means negative, one unsigned compare whose mask negates the activation in the same
    // (masked) subtract, against the magnitudes from a second table. That needs 16 sorted entries whose magnitudes
    // fit a signed byte (no -128), and IQ4_XS's packed scales.
    private static bool SignedByIndex(KernelModel model) =>
        model.Codebook.Count == 16 && model.Codebook.Zip(model.Codebook.Skip(1), (a, b) => a < b).All(sorted => sorted)
        && model.Codebook.All(value => value is > -128 and < 128) && PacksHighLow(model.Layout.Find(FieldKind.SubScales)!);

    private static int Negatives(KernelModel model) => model.Codebook.Count(value => value < 0);

    protected override void EmitDotScalar(SourceWriter writer, KernelModel model)
    {
        var activation = model.Activation!;
        var sub = model.Layout.Find(FieldKind.SubScales)!;
        var d8 = ReferenceEmitter.ScalarField(activation.Find(FieldKind.Scale)!, "act");
        var summary = $"Scalar fallback dot product with {activation.Name}: int products per sub-block times its scale, summed per super-block, then scaled.";
        DotScalarRow(writer, summary, () =>
        {
            SuperBlockPointers(writer, activation, "int sumi = 0;");
            writer.Line($"for (int j = 0; j < {Width.Text(sub.Count)}; j++)");
            using (writer.Braces())
            {
                writer.Line("int isum = 0;").Line($"for (int i = j * {Width.Text(Group)}; i < (j + 1) * {Width.Text(Group)}; i++)");
                using (writer.Braces())
                {
                    writer.Line($"isum += {ReferenceEmitter.WeightIntExpr(model, "block", "i")} * aq[i];");
                }

                writer.Line($"sumi += SubScale({ReferenceEmitter.Address("block", sub.Offset)}, j) * isum;");
            }

            writer.Line($"sum += {ReferenceEmitter.ScaleExpr(model, "block")} * {d8} * sumi;");
        });
    }

    /// <summary>
    /// The dot products' loop width for <paramref name="member"/>: a 512-bit member whose codebook cannot take its signs
    /// from the index runs the 256-bit loop, whose signed int8 products take <c>vpsignb</c> (AVX-512 has none, and an
    /// abs/negate/blend stand-in cost more: from L2 / streamed on one thread, 12.5 / 10.8 GB/s against 10.6 / 10.0).
    /// </summary>
    private static Width DotLoop(KernelModel model, Width member) => member == Width.V512 && !SignedByIndex(model) ? Width.V256 : member;

    // The 512-bit loop keeps its float accumulators at 256 bits: its int32 sums fold into the 256-bit loop's lanes
    // (the same integers), so the results equal the 256-bit loop's bit for bit.
    private static Width Accumulators(Width loop) => loop == Width.V512 ? Width.V256 : loop;

    protected override void EmitDot(SourceWriter writer, KernelModel model, Width member)
    {
        var activation = model.Activation!;
        var width = DotLoop(model, member);
        var summary = $"Dot product with {activation.Name}, whole super-blocks, {width.Bits}-bit vectors{(member != width ? $" (the {member.Bits}-bit member runs the {width.Bits}-bit loop)" : "")}: int32 sums per sub-block times its scale, then float.";
        DotRow(writer, member, Accumulators(width), model.Layout.TypeSize, summary, activation.TypeSize, () =>
        {
            var decoded = EmitDecodedBlock(writer, model, width);
            EmitBlockProducts(writer, model, width, decoded, "act", "acc");
        }, LoopSetup(model, width));
    }

    /// <summary>
    /// Dot{width} against four activation rows: each super-block's codebook values and scale vectors are decoded once,
    /// then every row runs Dot's own statements on them (so each result equals Dot's bit for bit).
    /// </summary>
    protected override void EmitDotRows(SourceWriter writer, KernelModel model, Width member)
    {
        var activation = model.Activation!;
        var width = DotLoop(model, member);
        var sums = Accumulators(width);
        writer
            .Line($"/// <summary>Dot{member.Suffix} against four activation rows, each super-block decoded once.</summary>")
            .Line(Hot)
            .Line($"public static void Dot4{member.Suffix}(long count, byte* weights, byte* activations, long activationStride, float* results)");
        using (writer.Braces())
        {
            writer.Line("long blocks = count / BlockSize;").Line("byte* blk = weights;");
            for (var r = 0; r < 4; r++)
            {
                writer.Line($"var acc{r} = {sums.Vec}<float>.Zero;").Line($"byte* act{r} = activations + {Width.Text(r)} * activationStride;");
            }

            foreach (var line in LoopSetup(model, width))
            {
                writer.Line(line);
            }

            var step = Width.Text(activation.TypeSize);
            writer.Line($"for (long b = 0; b < blocks; b++, blk += TypeSize, act0 += {step}, act1 += {step}, act2 += {step}, act3 += {step})");
            using (writer.Braces())
            {
                var decoded = EmitDecodedBlock(writer, model, width);
                for (var r = 0; r < 4; r++)
                {
                    using (writer.Braces())
                    {
                        EmitBlockProducts(writer, model, width, decoded, "act" + Width.Text(r), "acc" + Width.Text(r));
                    }
                }
            }

            for (var r = 0; r < 4; r++)
            {
                writer.Line($"results[{Width.Text(r)}] = {sums.Vec}.Sum(acc{r});");
            }
        }

        writer.Line();
    }

    /// <summary>
    /// The super-block at <c>blk</c> decoded for the products: its codebook values w0.. and their sub-block scales
    /// sc0.. as 16-bit lanes (-32..31), each vector's own sub-block. Returns the vector count.
    /// </summary>
    private static int EmitDecodedBlock(SourceWriter writer, KernelModel model, Width width)
    {
        var sub = model.Layout.Find(FieldKind.SubScales)!;
        var vectors = model.Layout.BlockSize / width.Bytes;
        var scales = ReferenceEmitter.Address("blk", sub.Offset);
        if (width == Width.V512)
        {
            // Two sub-blocks per vector: their 32 packed bytes as 64 indices in value order, the magnitudes looked up,
            // the scales of the first in the low 256 bits and of the second in the high.
            var quants = model.Layout.Find(FieldKind.Quants)!;
            writer.Line($"var st = Vector512.Create(SubScaleBytes({scales})).AsSByte();");
            for (var v = 0; v < vectors; v++)
            {
                writer
                    .Line($"var i{v} = nibbles.Split(Vector256.Load({ReferenceEmitter.Address("blk", quants.Offset + (32 * v))}));")
                    .Line($"var w{v} = Simd.Lookup16(magnitudes, i{v}).AsByte();")
                    .Line($"var sc{v} = Simd.Lookup16(st, pairScales{v}).AsInt16() - scaleOffset;");
            }

            return vectors;
        }

        var packed = PacksHighLow(sub);
        if (packed)
        {
            // Every 8-byte group of st holds the eight scales; a lookup per vector spreads its own.
            writer.Line($"var st = {width.Vec}.Create(SubScaleBytes({scales})).AsSByte();");
        }
        else
        {
            for (var j = 0; j < sub.Count; j++)
            {
                writer.Line($"int ls{j} = SubScale({scales}, {Width.Text(j)});");
            }
        }

        for (var v = 0; v < vectors; v++)
        {
            EmitWeights(writer, model, width, v * width.Bytes, "w" + Width.Text(v));
            var j = v * width.Bytes / Group;
            var scale = packed
                ? $"Simd.Lookup16(st, {ScaleIndex(width, j)}).AsInt16() - {width.Vec}.Create((short){Width.Text(-sub.ValueOffset)})"
                : $"{width.Vec}.Create((short)ls{j})";
            writer.Line($"var sc{v} = {scale};");
        }

        return vectors;
    }

    /// <summary>
    /// One activation row's part of a super-block: the int8 products of w0.. with its quants, each pair sum times the
    /// sub-block scale in pmaddwd (the same int32 lanes as summing the pairs and then multiplying), summed, then
    /// <c>d * d8</c> in float into <paramref name="acc"/>.
    /// </summary>
    private static void EmitBlockProducts(SourceWriter writer, KernelModel model, Width width, int vectors, string act, string acc)
    {
        var activation = model.Activation!;
        var d8 = ReferenceEmitter.ScalarField(activation.Find(FieldKind.Scale)!, act);
        var aq = activation.Find(FieldKind.Quants)!.Offset;
        var products = new List<string>();
        for (var v = 0; v < vectors; v++)
        {
            writer.Line($"var y{v} = {width.Vec}.Load((sbyte*)({ReferenceEmitter.Address(act, aq + (v * width.Bytes))}));");
            writer.Line(width == Width.V512
                ? $"var p{v} = Simd.DotScaled(w{v}, Simd.NegateWhere(y{v}, Vector512.LessThan(i{v}, negatives)), sc{v});"
                : $"var p{v} = Simd.DotI8Scaled(w{v}, y{v}, sc{v});");
            products.Add("p" + Width.Text(v));
        }

        writer.Line($"var isum = {TreeSum(products)};");
        if (width == Width.V512)
        {
            writer.Line("var isum8 = isum.GetLower() + isum.GetUpper();");
            writer.Line($"{acc} = Simd.MultiplyAdd(Vector256.ConvertToSingle(isum8), Vector256.Create({ReferenceEmitter.ScaleExpr(model, "blk")} * {d8}), {acc});");
            return;
        }

        writer.Line($"{acc} = Simd.MultiplyAdd({width.Vec}.ConvertToSingle(isum), {width.Vec}.Create({ReferenceEmitter.ScaleExpr(model, "blk")} * {d8}), {acc});");
    }
}
