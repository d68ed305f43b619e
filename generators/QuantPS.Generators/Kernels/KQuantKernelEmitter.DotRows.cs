using System.Collections.Generic;
using System.Linq;
using QuantPS.Generators.Model;

namespace QuantPS.Generators.Kernels;

/// <summary>The K-quant family's Dot4: one weight row against four activation rows, each super-block decoded once.</summary>
internal sealed partial class KQuantKernelEmitter
{
    private const int Rows = 4;

    /// <summary>
    /// <see cref="EmitDot"/> against four activation rows: each super-block's sub-scales, scale tables and quants are
    /// decoded once and multiplied with every row. Each row keeps its own accumulators and the single-row loop's exact
    /// sequence of operations, so every result equals Dot's bit for bit.
    /// </summary>
    private static void EmitDotRows(SourceWriter writer, KernelModel model, Width member, KQuantConstants constants)
    {
        var width = member == Width.V512 ? Width.V256 : member;
        var layout = model.Layout;
        var activation = model.Activation!;
        var withMin = model.Scheme == "SubScaledWithMin";
        var aq = activation.Find(FieldKind.Quants)!.Offset;
        var vectors = layout.BlockSize / width.Bytes;
        var small = width == Width.V128 ? Width.V128 : Width.V256;
        var sums = activation.Find(FieldKind.GroupSums)?.Offset ?? 0;
        writer
            .Line($"/// <summary>Dot{member.Suffix} against four activation rows, each weight super-block decoded once.</summary>")
            .Line(Hot)
            .Line($"public static void Dot4{member.Suffix}(long count, byte* weights, byte* activations, long activationStride, float* results)");
        using (writer.Braces())
        {
            writer.Line("long blocks = count / BlockSize;").Line("byte* blk = weights;");
            for (var r = 0; r < Rows; r++)
            {
                writer.Line($"var acc{r} = {width.Vec}<float>.Zero;");
                if (withMin)
                {
                    writer.Line($"var minAcc{r} = {small.Vec}<float>.Zero;");
                }

                writer.Line($"byte* act{r} = activations + {Width.Text(r)} * activationStride;");
            }

            var outer = writer;
            writer = new SourceWriter();
            {
                var decoder = new KQuantDecoder(writer, model, width, "blk", constants);
                decoder.EmitSubScales();
                decoder.EmitScaleTables();
                var products = new List<string>[Rows];
                for (var r = 0; r < Rows; r++)
                {
                    products[r] = new List<string>();
                }

                for (var v = 0; v < vectors; v++)
                {
                    var u = decoder.EmitVector(v);
                    writer.Line($"var rowScale{v} = {decoder.ScaleVector(v)};");
                    for (var r = 0; r < Rows; r++)
                    {
                        writer.Line($"var p{v}_{r} = Simd.DotScaled({u}, {width.Vec}.Load((sbyte*)({ReferenceEmitter.Address("act" + Width.Text(r), aq + (v * width.Bytes))})), rowScale{v});");
                        products[r].Add($"p{v}_{r}");
                    }
                }

                if (model.Offset != 0)
                {
                    writer.Line($"var perSum = {PerSumsOf(decoder, width, ofMins: false)};");
                }

                if (withMin)
                {
                    writer.Line($"var perMin = {PerSumsOf(decoder, width, ofMins: true)};");
                }

                var scale = ReferenceEmitter.ScaleExpr(model, "blk");
                writer.Line($"var d = {scale};");
                if (withMin)
                {
                    writer.Line($"var dmin = {ReferenceEmitter.MinExpr(model, "blk")};");
                }

                for (var r = 0; r < Rows; r++)
                {
                    var act = "act" + Width.Text(r);
                    var d8 = ReferenceEmitter.ScalarField(activation.Find(FieldKind.Scale)!, act);
                    writer.Line($"var isum{r} = {TreeSum(products[r])};");
                    if (model.Offset != 0 || withMin)
                    {
                        writer.Lines(width == Width.V128
                            ? $"var bs{r}0 = Vector128.Load((short*)({ReferenceEmitter.Address(act, sums)}));\nvar bs{r}1 = Vector128.Load((short*)({ReferenceEmitter.Address(act, sums + 16)}));"
                            : $"var bs{r} = Vector256.Load((short*)({ReferenceEmitter.Address(act, sums)}));");
                    }

                    if (model.Offset != 0)
                    {
                        writer.Line($"var corr{r} = {PerSumsWith($"bs{r}", "perSum", width)};");
                        var magnitude = System.Math.Abs(model.Offset);
                        var term = (magnitude & (magnitude - 1)) == 0
                            ? $"{small.Vec}.ShiftLeft(corr{r}, {Width.Text(Log2(magnitude))})"
                            : $"(corr{r} * {small.Vec}.Create({Width.Text(magnitude)}))";
                        writer.Line($"isum{r} {(model.Offset < 0 ? "-" : "+")}= {(width == Width.V512 ? term + ".ToVector512()" : term)};");
                    }

                    writer.Line($"acc{r} = Simd.MultiplyAdd({width.Vec}.ConvertToSingle(isum{r}), {width.Vec}.Create(d * {d8}), acc{r});");
                    if (withMin)
                    {
                        writer.Line($"minAcc{r} = Simd.MultiplyAdd({small.Vec}.ConvertToSingle({PerSumsWith($"bs{r}", "perMin", width)}), {small.Vec}.Create(dmin * {d8}), minAcc{r});");
                    }
                }
            }

            var body = writer.ToString();
            writer = outer;
            constants.EmitLocals(writer);
            var step = string.Join(", ", Enumerable.Range(0, Rows).Select(r => $"act{r} += {Width.Text(activation.TypeSize)}"));
            writer.Line($"for (long b = 0; b < blocks; b++, blk += TypeSize, {step})");
            using (writer.Braces())
            {
                writer.Lines(body.TrimEnd('\n'));
            }

            for (var r = 0; r < Rows; r++)
            {
                writer.Line($"results[{Width.Text(r)}] = {width.Vec}.Sum(acc{r}){(withMin ? $" - {small.Vec}.Sum(minAcc{r})" : "")};");
            }
        }

        writer.Line();
    }

    /// <summary>The sub-scale (or min) values that <see cref="PerSums"/> multiplies with the block sums, once per block.</summary>
    private static string PerSumsOf(KQuantDecoder decoder, Width width, bool ofMins) => width == Width.V128
        ? $"(decoder0: {decoder.PerSumValues(ofMins, 0)}, decoder1: {decoder.PerSumValues(ofMins, 1)})"
        : decoder.PerSumValues(ofMins, 0);

    private static string PerSumsWith(string bs, string values, Width width) => width == Width.V128
        ? $"Simd.MultiplyAddPairs({bs}0, {values}.decoder0) + Simd.MultiplyAddPairs({bs}1, {values}.decoder1)"
        : $"Simd.MultiplyAddPairs({bs}, {values})";
}
