using System.Collections.Generic;
using System.Linq;
using QuantPS.Generators.Model;

namespace QuantPS.Generators.Kernels;

/// <summary>
/// Blocks rebuilt 32 values ("a chunk") at a time from one scale: Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q8_1,
/// IQ4_NL, MXFP4, and Q8_K's dequantizer. A chunk's weights decode to 32 int8 (4-bit halves or 8-bit
/// quants, an optional 1-bit high plane, Offset or a 16-entry codebook): V128 holds half a chunk per
/// vector, V256 one, V512 two. A step takes 2 chunks (4 at V512) so the F16 scales of a step convert
/// in one vector operation. The dot product multiplies int8 with the activation's int8 in int32 per
/// chunk, then scales in float (ggml's scheme); weights of a small unsigned range use an unsigned
/// multiply with a bias instead of the sign trick.
/// </summary>
internal sealed partial class LegacyKernelEmitter : KernelFamily
{
    private const int Chunk = 32;

    public override string Name => "Legacy";

    public override bool EmitsWeights(KernelModel model)
    {
        var layout = model.Layout;
        var quants = layout.Find(FieldKind.Quants);
        var scale = layout.Find(FieldKind.Scale);
        if (model.Scheme is not ("Scaled" or "ScaledWithMin" or "Codebook") || quants is null || scale is null
            || layout.BlockSize % Chunk != 0 || quants.Count != layout.BlockSize
            || layout.Fields.Any(field => field.Kind is not (FieldKind.Scale or FieldKind.Min or FieldKind.Quants or FieldKind.HighBits or FieldKind.Sum or FieldKind.GroupSums))
            || scale.Format is not ("F16" or "F32" or "E8M0") || layout.Find(FieldKind.Min) is { Format: not ("F16" or "F32") })
        {
            return false;
        }

        var chunksPerBlock = layout.BlockSize / Chunk;
        var nibbles = quants.Bits == 4 && quants.Order == "SplitHalves" && chunksPerBlock == 1;
        var bytes = quants.Bits == 8 && quants.Order == "Sequential" && model.Scheme != "Codebook";
        var planes = layout.Fields.Where(field => field.Kind == FieldKind.HighBits).ToList();
        var planesOk = planes.Count == 0 || (nibbles && model.Scheme != "Codebook" && planes.Count == 1 && planes[0].Bits == 1 && planes[0].Order == "Sequential");

        // A step takes up to four chunks, so a multi-chunk block must hold a multiple of four.
        return (nibbles || bytes) && planesOk && (chunksPerBlock == 1 || chunksPerBlock % 4 == 0);
    }

    public override string? DotProblem(KernelModel model)
    {
        var activation = model.Activation!;
        var quants = activation.Find(FieldKind.Quants);
        return model.Layout.BlockSize != Chunk ? $"the legacy dot product takes {Chunk}-value blocks, not {model.Layout.BlockSize}"
            : activation.BlockSize != Chunk ? $"{activation.Name} has {activation.BlockSize}-value blocks; the legacy dot product needs {Chunk}"
            : quants is not { Bits: 8, Signed: true, Order: "Sequential" } ? $"{activation.Name} does not hold signed 8-bit sequential quants"
            : activation.Find(FieldKind.Scale) is not { Format: "F16" or "F32" } ? $"{activation.Name} has no F16/F32 scale"
            : model.Scheme == "ScaledWithMin" && activation.Find(FieldKind.Sum) is null ? $"a block minimum needs the activation's d * sum(q) ([Sum]), which {activation.Name} lacks"
            : null;
    }

    public override bool EmitsDotRows => true;

    public override bool EmitsPreparedDot(KernelModel model) => EmitsPrepared(model);

    // One scale per block and no minimum: the shape IntegerPanelKernels multiplies (32-value blocks as weights; Q8_K's
    // 256-value blocks as the super-panels' activations).
    public override bool EmitsIntegers(KernelModel model) =>
        model.Scheme is "Scaled" or "Codebook" && (model.Activation?.BlockSize ?? model.Layout.BlockSize) == model.Layout.BlockSize;

    public override void EmitWeightKernels(SourceWriter writer, KernelModel model)
    {
        writer
            .Line("/// <summary>Scalar fallback: the reference.</summary>")
            .Line("public static void DequantizeRowScalar(byte* source, float* destination, long count) => DequantizeReferenceRow(source, destination, count);")
            .Line();
        var plan = Plan(model);
        if (plan.BiasedBook is { } biased)
        {
            writer
                .Line($"/// <summary>The codebook plus {Width.Text(plan.Bias)}, all entries 0..127, for the unsigned multiply.</summary>")
                .Line("private static readonly Vector128<byte> BiasedCodebook = Vector128.Create(" + string.Join(", ", biased.Select(value => "(byte)" + Width.Text(value))) + ");")
                .Line();
        }

        foreach (var width in Width.All)
        {
            EmitDequantize(writer, model, plan, width);
        }

        if (model.HasDot)
        {
            EmitDotScalar(writer, model);
            foreach (var width in Width.All)
            {
                if (Runs256BitLoop(model, width))
                {
                    EmitForwardingDots(writer, model, Width.V256, width);
                    continue;
                }

                EmitDot(writer, model, plan, width);
            }

            EmitDotRowsByRow(writer, "Scalar");
            foreach (var width in Width.All)
            {
                if (!Runs256BitLoop(model, width))
                {
                    EmitDotRows(writer, model, plan, width);
                }
            }
        }

        if (EmitsIntegers(model))
        {
            foreach (var width in Width.All)
            {
                EmitDecodeIntegers(writer, model, plan, width);
            }
        }

        if (EmitsNibblePrepared(model))
        {
            EmitPrepared(writer, model);
        }
        else if (EmitsBytePrepared(model))
        {
            EmitPreparedBytes(writer, model);
        }
    }

    private static void EmitDequantize(SourceWriter writer, KernelModel model, WeightPlan plan, Width width)
    {
        var steps = ChunksPerStep(width);
        writer
            .Line($"/// <summary>Dequantizes whole blocks, {Width.Text(steps)} chunks of {Chunk} per step, {width.Bits}-bit vectors.</summary>")
            .Line(Hot)
            .Line($"public static void DequantizeRow{width.Suffix}(byte* source, float* destination, long count)");
        using (writer.Braces())
        {
            writer.Line($"long chunks = count / {Chunk};");
            if (model.Scheme == "Codebook")
            {
                writer.Line($"var book = Simd.Broadcast{width.Suffix}(Codebook);");
            }

            var advance = model.Layout.BlockSize == Chunk ? $", row += {StepBytes(model, width)}" : "";
            writer.Line("long g = 0;").Line(model.Layout.BlockSize == Chunk ? "byte* row = source;" : "byte* row = source; // blocks of several chunks: addressed from g")
                .Line($"for (; g + {Width.Text(steps - 1)} < chunks; g += {Width.Text(steps)}{advance})");
            using (writer.Braces())
            {
                EmitPointers(writer, model, width, "row");
                writer.Line($"var xs = {ScaleLanes(model, steps)};");
                if (model.Scheme == "ScaledWithMin")
                {
                    writer.Line($"var ms = {HalfLanes(model.Layout.Find(FieldKind.Min)!, "b", steps)};");
                }

                var weights = EmitWeights(writer, model, plan, width, forDot: false);
                writer.Line($"float* y = destination + g * {Chunk};");
                for (var k = 0; k < steps; k++)
                {
                    writer.Line($"var dv{k} = {Lane(width, "xs", k, k)};");
                    if (model.Scheme == "ScaledWithMin")
                    {
                        writer.Line($"var mv{k} = {Lane(width, "ms", k, k)};");
                    }
                }

                for (var r = 0; r < weights.Count; r++)
                {
                    writer.Line($"var lo{r} = {width.Vec}.WidenLower({weights[r]});");
                    writer.Line($"var hi{r} = {width.Vec}.WidenUpper({weights[r]});");
                    for (var j = 0; j < 4; j++)
                    {
                        var k = ((r * width.Bytes) + (j * width.Floats)) / Chunk;
                        var half = (j < 2 ? "lo" : "hi") + Width.Text(r);
                        var widen = j % 2 == 0 ? "WidenLower" : "WidenUpper";
                        var min = model.Scheme == "ScaledWithMin" ? $" + mv{k}" : "";
                        writer.Line($"({width.Vec}.ConvertToSingle({width.Vec}.{widen}({half})) * dv{k}{min}).Store(y + {Width.Text(((r * 4) + j) * width.Floats)});");
                    }
                }
            }

            // Leftover chunks (a row of blocks not divisible by the step): a pair through the narrower step, where this
            // one is wider (attention's heads of 64 values are all leftover at 512 bits), the rest through the
            // reference; every value the same bits either way.
            if (HasLeftoverPair(model, width))
            {
                writer.Line("if (g + 1 < chunks)");
                using (writer.Braces())
                {
                    writer.Line($"DequantizeRow{Width.V256.Suffix}(source + g * TypeSize, destination + g * {Chunk}, 2 * {Chunk});").Line("g += 2;");
                }
            }

            writer.Line("if (g < chunks)");
            using (writer.Braces())
            {
                writer.Line($"DequantizeReferenceRow(source + g * TypeSize, destination + g * {Chunk}, (chunks - g) * {Chunk});");
            }
        }

        writer.Line();
    }

    private static void EmitDotScalar(SourceWriter writer, KernelModel model)
    {
        var activation = model.Activation!;
        writer
            .Line($"/// <summary>Scalar fallback dot product with {activation.Name}: int products summed per block, then scaled.</summary>")
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
                    .Line("int isum = 0;")
                    .Line("for (int i = 0; i < BlockSize; i++)");
                using (writer.Braces())
                {
                    writer.Line($"isum += {ReferenceEmitter.WeightIntExpr(model, "block", "i")} * (sbyte)({ReferenceEmitter.Address("act", activation.Find(FieldKind.Quants)!.Offset)})[i];");
                }

                var min = model.Scheme == "ScaledWithMin"
                    ? $" + {ReferenceEmitter.MinExpr(model, "block")} * {ReferenceEmitter.ScalarField(activation.Find(FieldKind.Sum)!, "act")}"
                    : "";
                writer.Line($"sum += isum * ({ReferenceEmitter.ScaleExpr(model, "block")} * {ReferenceEmitter.ScalarField(activation.Find(FieldKind.Scale)!, "act")}){min};");
            }

            writer.Line("return sum;");
        }

        writer.Line();
    }

    private static void EmitDot(SourceWriter writer, KernelModel model, WeightPlan plan, Width width)
    {
        var activation = model.Activation!;
        var steps = ChunksPerStep(width);
        var withMin = model.Scheme == "ScaledWithMin";
        writer
            .Line($"/// <summary>Dot product with {activation.Name}, {Width.Text(steps)} chunks per step, {width.Bits}-bit vectors.</summary>")
            .Line(Hot)
            .Line($"public static float Dot{width.Suffix}(long count, byte* weights, byte* activations)");
        using (writer.Braces())
        {
            EmitDotSetup(writer, model, plan, width);
            writer.Line($"var acc0 = {width.Vec}<float>.Zero;").Line($"var acc1 = {width.Vec}<float>.Zero;");
            if (withMin)
            {
                writer.Line("var minAcc = Vector128<float>.Zero;");
            }

            writer.Line("long g = 0;").Line("byte* row = weights;").Line("byte* act = activations;")
                .Line($"for (; g + {Width.Text(steps - 1)} < chunks; g += {Width.Text(steps)}, row += {StepBytes(model, width)}, act += {Width.Text(steps * activation.TypeSize)})");
            using (writer.Braces())
            {
                EmitPointers(writer, model, width, "row");
                KernelSupportEmitter.EmitPrefetch(writer, "b0", steps * model.Layout.TypeSize * Chunk / model.Layout.BlockSize);
                EmitActivationScales(writer, model, width, "act", "minAcc");
                var weights = EmitWeights(writer, model, plan, width, forDot: true);
                EmitProducts(writer, model, plan, width, weights, "");
            }

            writer.Line($"float result = {width.Vec}.Sum(acc0 + acc1){(withMin ? " + Vector128.Sum(minAcc)" : "")};");
            if (HasLeftoverPair(model, width))
            {
                writer.Line("if (g + 1 < chunks)");
                using (writer.Braces())
                {
                    writer.Line($"result += {LeftoverPairDot(activation.TypeSize, "activations")};").Line("g += 2;");
                }
            }

            writer.Line("if (g < chunks)");
            using (writer.Braces())
            {
                writer.Line($"result += DotScalar((chunks - g) * {Chunk}, weights + g * TypeSize, activations + g * {Width.Text(activation.TypeSize)});");
            }

            writer.Line("return result;");
        }

        writer.Line();
    }

    /// <summary>The locals a dot kernel sets up before its loop: the codebook and the unsigned bias, where the plan has them.</summary>
    private static void EmitDotSetup(SourceWriter writer, KernelModel model, WeightPlan plan, Width width)
    {
        writer.Line($"long chunks = count / {Chunk};");
        if (model.Scheme == "Codebook")
        {
            writer.Line($"var book = Simd.Broadcast{width.Suffix}({(plan.BiasedBook is null ? "Codebook" : "BiasedCodebook.AsSByte()")});");
        }

        if (plan.Mode == WeightMode.Biased)
        {
            writer.Line($"var bias = {width.Vec}.Create((byte){Width.Text(plan.Bias)});");
        }
    }

    /// <summary>
    /// A step's activation chunk pointers a0.. from <paramref name="act"/>, the scale products ds, and the min term.
    /// With <paramref name="weightLanes"/> the weights' scales (and mins) are already in the vectors ws (and wm), read
    /// once for several activation rows; each lane's product is the same float either way.
    /// </summary>
    private static void EmitActivationScales(SourceWriter writer, KernelModel model, Width width, string act, string minAcc, bool weightLanes = false)
    {
        var activation = model.Activation!;
        var steps = ChunksPerStep(width);
        for (var k = 0; k < steps; k++)
        {
            writer.Line($"byte* a{k} = {ReferenceEmitter.Address(act, k * activation.TypeSize)};");
        }

        writer.Line(weightLanes
            ? $"var ds = ws * {HalfLanes(activation.Find(FieldKind.Scale)!, "a", steps)};"
            : $"var ds = {ProductLanes(model.Layout.Find(FieldKind.Scale)!, activation.Find(FieldKind.Scale)!, steps, model)};");
        if (model.Scheme == "ScaledWithMin")
        {
            writer.Line(weightLanes
                ? $"{minAcc} += wm * {HalfLanes(activation.Find(FieldKind.Sum)!, "a", steps)};"
                : $"{minAcc} += {ProductLanes(model.Layout.Find(FieldKind.Min)!, activation.Find(FieldKind.Sum)!, steps, null)};");
        }
    }

    /// <summary>The step's weight scales ws (and mins wm) as vectors, for <see cref="EmitActivationScales"/> to reuse.</summary>
    private static void EmitWeightScaleLanes(SourceWriter writer, KernelModel model, Width width)
    {
        var steps = ChunksPerStep(width);
        writer.Line($"var ws = {ScaleLanes(model, steps)};");
        if (model.Scheme == "ScaledWithMin")
        {
            writer.Line($"var wm = {HalfLanes(model.Layout.Find(FieldKind.Min)!, "b", steps)};");
        }
    }

    /// <summary>The step's integer products with the activation quants at a0.., and one FMA per chunk into acc0/acc1 + <paramref name="accSuffix"/>.</summary>
    private static void EmitProducts(SourceWriter writer, KernelModel model, WeightPlan plan, Width width, List<string> weights, string accSuffix)
    {
        var aq = model.Activation!.Find(FieldKind.Quants)!.Offset;
        var vectors = VectorsPerStep(width);
        var products = new List<string>();
        for (var r = 0; r < vectors; r++)
        {
            writer.Line($"var y{r} = {ByteLoad(width, r, "a", aq, "sbyte")};");
            products.Add(plan.Mode switch
            {
                WeightMode.Biased => $"Simd.DotBiased({weights[r]}, y{r}, bias)",
                WeightMode.Unsigned => $"Simd.DotU8({weights[r]}, y{r})",
                _ => $"Simd.DotI8({weights[r]}, y{r})",
            });
        }

        // One FMA per chunk (per chunk pair at V512); V128 first adds the two halves of a chunk.
        var perChunk = width == Width.V128 ? 2 : 1;
        for (var f = 0; f < vectors / perChunk; f++)
        {
            var sum = string.Join(" + ", products.Skip(f * perChunk).Take(perChunk));
            var k = width == Width.V512 ? 2 * f : f;
            var lane = width == Width.V512 ? Lane(width, "ds", k, k + 1) : Lane(width, "ds", k, k);
            var acc = $"acc{f % 2}{accSuffix}";
            writer.Line($"{acc} = Simd.MultiplyAdd({width.Vec}.ConvertToSingle({sum}), {lane}, {acc});");
        }
    }

    /// <summary>Block pointers b0.., quant pointers q0.., raw nibble loads and high-bit words of the step's chunks.</summary>
    private static void EmitPointers(SourceWriter writer, KernelModel model, Width width, string source)
    {
        var layout = model.Layout;
        var quants = layout.Find(FieldKind.Quants)!;
        var plane = layout.Find(FieldKind.HighBits);
        var chunksPerBlock = layout.BlockSize / Chunk;
        for (var k = 0; k < ChunksPerStep(width); k++)
        {
            if (chunksPerBlock == 1)
            {
                // The step starts at a block, so every chunk is a constant offset from the running pointer.
                writer.Line($"byte* b{k} = {ReferenceEmitter.Address(source, k * layout.TypeSize)};");
                writer.Line($"byte* q{k} = {ReferenceEmitter.Address("b" + k, quants.Offset)};");
            }
            else
            {
                // The step's chunks share one block (the step divides the block).
                writer.Line($"byte* b{k} = {source} + (g / {Width.Text(chunksPerBlock)}) * TypeSize;");
                writer.Line($"byte* q{k} = b{k} + {Width.Text(quants.Offset)} + ((g % {Width.Text(chunksPerBlock)}) + {Width.Text(k)}) * {Chunk};");
            }

            if (quants.Bits == 4)
            {
                writer.Line($"var raw{k} = Vector128.Load(q{k});");
            }

            if (plane is not null)
            {
                writer.Line($"uint h{k} = Unsafe.ReadUnaligned<uint>({ReferenceEmitter.Address("b" + k, plane.Offset)});");
            }
        }
    }

    /// <summary>
    /// Writes the statements that decode the step into weight vectors; returns their names. For the
    /// dot product they are in the plan's form (unsigned, biased or signed); for dequantizing, signed.
    /// </summary>
    private static List<string> EmitWeights(SourceWriter writer, KernelModel model, WeightPlan plan, Width width, bool forDot)
    {
        var quants = model.Layout.Find(FieldKind.Quants)!;
        var plane = model.Layout.Find(FieldKind.HighBits);
        var names = new List<string>();
        for (var r = 0; r < VectorsPerStep(width); r++)
        {
            var name = "w" + Width.Text(r);
            names.Add(name);
            if (quants.Bits == 8)
            {
                writer.Line($"var {name} = {ByteLoad(width, r, "q", 0, quants.Signed ? "sbyte" : "byte")};");
                continue;
            }

            // 128-bit pieces: piece p of vector r is half (p % 2) of chunk (p / 2) within the step.
            var perVector = width.Bits / 128;
            var pieces = Enumerable.Range(r * perVector, perVector)
                .Select(p => p % 2 == 0 ? $"raw{p / 2}" : $"Vector128.ShiftRightLogical(raw{p / 2}.AsUInt16(), 4).AsByte()")
                .ToList();
            var assembled = pieces.Count switch
            {
                1 => pieces[0],
                2 => $"Simd.Join({pieces[0]}, {pieces[1]})",
                _ => $"Simd.Join(Simd.Join({pieces[0]}, {pieces[1]}), Simd.Join({pieces[2]}, {pieces[3]}))",
            };
            writer.Line($"var u{r} = ({assembled}) & {width.Vec}.Create((byte)0x0F);");
            if (plane is not null)
            {
                var bits = width == Width.V128 ? $"Simd.ExpandBits((ushort)(h{r / 2} >> {Width.Text(16 * (r % 2))}))"
                    : width == Width.V256 ? $"Simd.ExpandBits(h{r})"
                    : $"Simd.ExpandBits(h{2 * r}, h{(2 * r) + 1})";
                writer.Line($"u{r} |= {bits} & {width.Vec}.Create((byte)0x10);");
            }

            var value = model.Scheme == "Codebook"
                ? forDot && plan.BiasedBook is not null ? $"Simd.Lookup16(book, u{r}).AsByte()" : $"Simd.Lookup16(book, u{r})"
                : !forDot && model.Offset != 0 ? $"u{r}.AsSByte() + {width.Vec}.Create((sbyte){Width.Text(model.Offset)})"
                : forDot && plan.Mode == WeightMode.Signed && model.Offset != 0 ? $"u{r}.AsSByte() + {width.Vec}.Create((sbyte){Width.Text(model.Offset)})"
                : forDot ? $"u{r}" : $"u{r}.AsSByte()";
            writer.Line($"var {name} = {value};");
        }

        return names;
    }

    /// <summary>Loads the bytes of vector <paramref name="r"/> of a step from chunk pointers <paramref name="pointer"/>0, 1...</summary>
    private static string ByteLoad(Width width, int r, string pointer, int offset, string type)
    {
        string At(int k, int extra) => $"({type}*)({ReferenceEmitter.Address(pointer + Width.Text(k), offset + extra)})";
        return width == Width.V512 ? $"Simd.Join(Vector256.Load({At(2 * r, 0)}), Vector256.Load({At((2 * r) + 1, 0)}))"
            : width == Width.V256 ? $"Vector256.Load({At(r, 0)})"
            : $"Vector128.Load({At(r / 2, 16 * (r % 2))})";
    }

    /// <summary>How far the running block pointer moves per step; blocks of several chunks address from g instead.</summary>
    private static string StepBytes(KernelModel model, Width width) =>
        model.Layout.BlockSize == Chunk ? Width.Text(ChunksPerStep(width) * model.Layout.TypeSize) : "0";

    /// <summary>Per-chunk products x_k * y_k in lanes 0..steps-1 of a Vector128 (the rest 0), converted lane by lane.</summary>
    private static string ProductLanes(KernelField x, KernelField y, int steps, KernelModel? scaleOf)
    {
        var lanes = Enumerable.Range(0, 4).Select(k => k >= steps ? "0f"
            : (scaleOf is null ? ReferenceEmitter.ScalarField(x, "b" + Width.Text(k)) : ReferenceEmitter.ScaleExpr(scaleOf, "b" + Width.Text(k)))
              + " * " + ReferenceEmitter.ScalarField(y, "a" + Width.Text(k)));
        return $"Vector128.Create({string.Join(", ", lanes)})";
    }

    /// <summary>The step's block scales as a Vector128 (one lane per chunk, the rest 0).</summary>
    private static string ScaleLanes(KernelModel model, int steps)
    {
        var lanes = Enumerable.Range(0, 4).Select(k => k < steps ? ReferenceEmitter.ScaleExpr(model, "b" + Width.Text(k)) : "0f");
        return $"Vector128.Create({string.Join(", ", lanes)})";
    }

    private static string HalfLanes(KernelField field, string pointer, int steps)
    {
        var lanes = Enumerable.Range(0, 4).Select(k => k < steps ? ReferenceEmitter.ScalarField(field, pointer + Width.Text(k)) : "0f");
        return $"Vector128.Create({string.Join(", ", lanes)})";
    }

    /// <summary>Lane <paramref name="low"/> of a Vector128 broadcast to a vector (at V512: <paramref name="high"/> in the upper half).</summary>
    private static string Lane(Width width, string vector, int low, int high)
    {
        if (width == Width.V128)
        {
            return $"Vector128.Shuffle({vector}, Vector128.Create({Width.Text(low)}))";
        }

        if (width == Width.V256)
        {
            return $"Vector256.Shuffle({vector}.ToVector256Unsafe(), Vector256.Create({Width.Text(low)}))";
        }

        var indices = string.Join(", ", Enumerable.Repeat(Width.Text(low), 8).Concat(Enumerable.Repeat(Width.Text(high), 8)));
        return $"Vector512.Shuffle({vector}.ToVector256Unsafe().ToVector512Unsafe(), Vector512.Create({indices}))";
    }
}
