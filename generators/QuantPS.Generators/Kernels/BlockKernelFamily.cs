using System;
using System.Collections.Generic;
using System.Linq;
using QuantPS.Generators.Model;

namespace QuantPS.Generators.Kernels;

/// <summary>
/// The skeleton the block families share (sub-byte, sub-scaled codebook, microscaled, ternary, trit, grid): the scalar
/// fallback, one dequantizer and one dot product per width, the loops over blocks around them, the widen-and-store of
/// decoded int8 weights, and the checks and sums of a Q8_K-style pairing. A family fills in the per-block bodies only.
/// </summary>
internal abstract class BlockKernelFamily : KernelFamily
{
    public sealed override void EmitWeightKernels(SourceWriter writer, KernelModel model)
    {
        writer
            .Line("/// <summary>Scalar fallback: the reference.</summary>")
            .Line("public static void DequantizeRowScalar(byte* source, float* destination, long count) => DequantizeReferenceRow(source, destination, count);")
            .Line();
        EmitHelpers(writer, model);
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

            if (EmitsDotRows)
            {
                EmitDotRowsByRow(writer, "Scalar");
                foreach (var width in Width.All)
                {
                    EmitDotRows(writer, model, width);
                }
            }
        }
    }

    /// <summary><c>Dot4{width}</c>, for a family whose <see cref="KernelFamily.EmitsDotRows"/> is true.</summary>
    protected virtual void EmitDotRows(SourceWriter writer, KernelModel model, Width width) =>
        throw new InvalidOperationException($"{Name} says it emits Dot4 but does not.");

    /// <summary>Private members the kernels below call (emitted once, before them).</summary>
    protected virtual void EmitHelpers(SourceWriter writer, KernelModel model)
    {
    }

    protected abstract void EmitDequantize(SourceWriter writer, KernelModel model, Width width);

    protected abstract void EmitDotScalar(SourceWriter writer, KernelModel model);

    protected abstract void EmitDot(SourceWriter writer, KernelModel model, Width width);

    /// <summary>
    /// <c>DequantizeRow{width}</c>: the loop over whole blocks (<c>blk</c> in, <c>y</c> out), <paramref name="body"/> inside it,
    /// <paramref name="setup"/> lines before it.
    /// </summary>
    protected static void DequantizeRow(SourceWriter writer, Width width, string summary, Action body, params string[] setup)
    {
        writer
            .Line($"/// <summary>{summary}</summary>")
            .Line(Hot)
            .Line($"public static void DequantizeRow{width.Suffix}(byte* source, float* destination, long count)");
        using (writer.Braces())
        {
            writer.Line("long blocks = count / BlockSize;").Line("byte* blk = source;").Line("float* y = destination;");
            foreach (var line in setup)
            {
                writer.Line(line);
            }

            writer.Line("for (long b = 0; b < blocks; b++, blk += TypeSize, y += BlockSize)");
            using (writer.Braces())
            {
                body();
            }
        }

        writer.Line();
    }

    /// <summary>
    /// Widens the int8 weights <paramref name="q"/> (values <c>v * width.Bytes</c> on) to floats and stores them; <paramref name="product"/>
    /// writes the multiplication of the converted floats by the scale of the value <c>first</c> they start at.
    /// </summary>
    protected static void StoreWidened(SourceWriter writer, Width width, int v, string q, Func<string, int, string> product)
    {
        writer.Line($"var lo{v} = {width.Vec}.WidenLower({q});").Line($"var hi{v} = {width.Vec}.WidenUpper({q});");
        for (var f = 0; f < 4; f++)
        {
            var first = (v * width.Bytes) + (f * width.Floats);
            var half = (f < 2 ? "lo" : "hi") + Width.Text(v);
            var widen = f % 2 == 0 ? "WidenLower" : "WidenUpper";
            writer.Line($"{product($"{width.Vec}.ConvertToSingle({width.Vec}.{widen}({half}))", first)}.Store(y + {Width.Text(first)});");
        }
    }

    /// <summary>
    /// <c>DotScalar</c>: the loop over weight blocks <c>b</c> accumulating <c>sum</c>; <paramref name="body"/> inside it.
    /// </summary>
    protected static void DotScalarRow(SourceWriter writer, string summary, Action body)
    {
        writer
            .Line($"/// <summary>{summary}</summary>")
            .Line(Hot)
            .Line("public static float DotScalar(long count, byte* weights, byte* activations)");
        using (writer.Braces())
        {
            writer.Line("long blocks = count / BlockSize;").Line("float sum = 0f;").Line("for (long b = 0; b < blocks; b++)");
            using (writer.Braces())
            {
                body();
            }

            writer.Line("return sum;");
        }

        writer.Line();
    }

    /// <summary>
    /// The opening of a scalar dot over one activation block per weight block: <c>block</c>, <c>act</c> and its quants
    /// <c>aq</c>, then an int accumulator declared by <paramref name="accumulator"/>.
    /// </summary>
    protected static void SuperBlockPointers(SourceWriter writer, LayoutModel activation, string accumulator) => writer
        .Line("byte* block = weights + b * TypeSize;")
        .Line($"byte* act = activations + b * {Width.Text(activation.TypeSize)};")
        .Line($"sbyte* aq = (sbyte*)({ReferenceEmitter.Address("act", activation.Find(FieldKind.Quants)!.Offset)});")
        .Line(accumulator);

    /// <summary>A scalar dot of one weight block with one activation block: int products over the block, then d * d8.</summary>
    protected static void EmitWholeBlockDotScalar(SourceWriter writer, KernelModel model)
    {
        var activation = model.Activation!;
        var d8 = ReferenceEmitter.ScalarField(activation.Find(FieldKind.Scale)!, "act");
        DotScalarRow(writer, $"Scalar fallback dot product with {activation.Name}: int products summed per super-block, then scaled.", () =>
        {
            SuperBlockPointers(writer, activation, "int isum = 0;");
            writer.Line("for (int i = 0; i < BlockSize; i++)");
            using (writer.Braces())
            {
                writer.Line($"isum += {ReferenceEmitter.WeightIntExpr(model, "block", "i")} * aq[i];");
            }

            writer.Line($"sum += {ReferenceEmitter.ScaleExpr(model, "block")} * {d8} * isum;");
        });
    }

    /// <summary>
    /// <c>Dot{width}</c>: the loop over whole blocks (<c>blk</c>, <c>act</c> advancing by <paramref name="activationStride"/>) into
    /// the float vector <c>acc</c>, summed at the end; <paramref name="body"/> inside the loop, <paramref name="setup"/> before it.
    /// </summary>
    protected static void DotRow(SourceWriter writer, Width width, int typeSize, string summary, int activationStride, Action body, params string[] setup) =>
        DotRow(writer, width, width, typeSize, summary, activationStride, body, setup);

    /// <summary>As the other overload, the method named for <paramref name="member"/> running the <paramref name="width"/> loop.</summary>
    protected static void DotRow(SourceWriter writer, Width member, Width width, int typeSize, string summary, int activationStride, Action body, params string[] setup)
    {
        writer
            .Line($"/// <summary>{summary}</summary>")
            .Line(Hot)
            .Line($"public static float Dot{member.Suffix}(long count, byte* weights, byte* activations)");
        using (writer.Braces())
        {
            writer.Line("long blocks = count / BlockSize;").Line($"var acc = {width.Vec}<float>.Zero;")
                .Line("byte* blk = weights;").Line("byte* act = activations;");
            foreach (var line in setup)
            {
                writer.Line(line);
            }

            writer.Line($"for (long b = 0; b < blocks; b++, blk += TypeSize, act += {Width.Text(activationStride)})");
            using (writer.Braces())
            {
                KernelSupportEmitter.EmitPrefetch(writer, "blk", typeSize);
                body();
            }

            writer.Line($"return {width.Vec}.Sum(acc);");
        }

        writer.Line();
    }

    /// <summary>
    /// Why the activation cannot pair block for block with a super-block (Q8_K-like: same block size, signed 8-bit sequential
    /// quants, an F32/F16 scale, and where <paramref name="needsSums"/> int16 sums of each 16 quants), or null.
    /// </summary>
    protected static string? SuperBlockDotProblem(KernelModel model, bool needsSums, string sumsUse = "the Offset")
    {
        var activation = model.Activation!;
        var quants = activation.Find(FieldKind.Quants);
        var sums = activation.Find(FieldKind.GroupSums);
        return activation.BlockSize != model.Layout.BlockSize ? $"{activation.Name} has {activation.BlockSize}-value blocks; this dot product needs {model.Layout.BlockSize}"
            : quants is not { Bits: 8, Signed: true, Order: "Sequential" } ? $"{activation.Name} does not hold signed 8-bit sequential quants"
            : activation.Find(FieldKind.Scale) is not { Format: "F32" or "F16" } ? $"{activation.Name} has no F32/F16 scale"
            : needsSums && (sums is not { Bits: 16, Signed: true } || activation.BlockSize / sums.Count != 16)
                ? $"{sumsUse} needs {activation.Name}'s int16 sums of each 16 quants ([GroupSums])"
            : null;
    }

    /// <summary>
    /// Why the activation cannot pair with <paramref name="chunk"/>-value pieces of a block (Q8_0-like, without a [Sum]), or null.
    /// </summary>
    protected static string? ChunkDotProblem(KernelModel model, int chunk, string pieces)
    {
        var activation = model.Activation!;
        var quants = activation.Find(FieldKind.Quants);
        return activation.BlockSize != chunk ? $"{activation.Name} has {activation.BlockSize}-value blocks; this dot product pairs {Width.Text(chunk)}-value {pieces} with them"
            : quants is not { Bits: 8, Signed: true, Order: "Sequential" } ? $"{activation.Name} does not hold signed 8-bit sequential quants"
            : activation.Find(FieldKind.Scale) is not { Format: "F16" or "F32" } ? $"{activation.Name} has no F16/F32 scale"
            : activation.Fields.Any(field => field.Kind == FieldKind.Sum) ? $"{activation.Name} carries a [Sum] this scheme has no use for"
            : null;
    }

    /// <summary>
    /// The weights entered unsigned, without their (negative) Offset: subtracts <c>-Offset * sum(activations)</c> from
    /// <c>isum</c>, the sum from the activation's per-16 int16 sums.
    /// </summary>
    protected static void EmitOffsetCorrection(SourceWriter writer, KernelModel model, Width width)
    {
        var sums = ReferenceEmitter.Address("act", model.Activation!.Find(FieldKind.GroupSums)!.Offset);
        var ones = "Vector128.Create((short)1)";
        var corr = width == Width.V128
            ? $"Simd.MultiplyAddPairs(Vector128.Load((short*)({sums})), {ones}) + Simd.MultiplyAddPairs(Vector128.Load((short*)({sums} + 16)), {ones})"
            : $"Simd.MultiplyAddPairs(Vector256.Load((short*)({sums})), Vector256.Create((short)1))";
        writer.Line($"var corr = {corr};");
        var magnitude = -model.Offset;
        var term = magnitude == 1 ? "corr" : $"(corr * {(width == Width.V128 ? "Vector128" : "Vector256")}.Create({Width.Text(magnitude)}))";
        writer.Line($"isum -= {(width == Width.V512 ? term + ".ToVector512()" : term)};");
    }

    /// <summary>A balanced sum, so the adds do not form one long dependency chain.</summary>
    protected static string TreeSum(IReadOnlyList<string> terms) => terms.Count == 1
        ? terms[0]
        : $"({TreeSum(terms.Take(terms.Count / 2).ToList())} + {TreeSum(terms.Skip(terms.Count / 2).ToList())})";
}
