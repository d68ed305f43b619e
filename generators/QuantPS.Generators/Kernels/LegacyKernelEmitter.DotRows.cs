using System.Collections.Generic;
using System.Linq;
using QuantPS.Generators.Model;

namespace QuantPS.Generators.Kernels;

/// <summary>The legacy family's Dot4: one weight row against four activation rows, each step's weights decoded once.</summary>
internal sealed partial class LegacyKernelEmitter
{
    private const int Rows = 4;

    /// <summary>
    /// <see cref="EmitDot"/> against four activation rows: each step's weights are decoded once and multiplied with
    /// every row, each row with its own accumulators and the single-row loop's exact sequence of operations (so each
    /// result equals Dot's bit for bit). A row's statements sit in their own braces so they reuse Dot's local names.
    /// </summary>
    private static void EmitDotRows(SourceWriter writer, KernelModel model, WeightPlan plan, Width width)
    {
        var activation = model.Activation!;
        var steps = ChunksPerStep(width);
        var withMin = model.Scheme == "ScaledWithMin";
        var vectors = VectorsPerStep(width);
        writer
            .Line($"/// <summary>Dot{width.Suffix} against four activation rows, each step's weights decoded once.</summary>")
            .Line(Hot)
            .Line($"public static void Dot4{width.Suffix}(long count, byte* weights, byte* activations, long activationStride, float* results)");
        using (writer.Braces())
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

            for (var r = 0; r < Rows; r++)
            {
                writer.Line($"var acc0_{r} = {width.Vec}<float>.Zero;").Line($"var acc1_{r} = {width.Vec}<float>.Zero;");
                if (withMin)
                {
                    writer.Line($"var minAcc_{r} = Vector128<float>.Zero;");
                }

                writer.Line($"byte* act_{r} = activations + {Width.Text(r)} * activationStride;");
            }

            var advance = string.Join(", ", Enumerable.Range(0, Rows).Select(r => $"act_{r} += {Width.Text(steps * activation.TypeSize)}"));
            writer.Line("long g = 0;").Line("byte* row = weights;")
                .Line($"for (; g + {Width.Text(steps - 1)} < chunks; g += {Width.Text(steps)}, row += {StepBytes(model, width)}, {advance})");
            using (writer.Braces())
            {
                EmitPointers(writer, model, width, "row");
                var weights = EmitWeights(writer, model, plan, width, forDot: true);
                var aq = activation.Find(FieldKind.Quants)!.Offset;
                for (var row = 0; row < Rows; row++)
                {
                    using (writer.Braces())
                    {
                        for (var k = 0; k < steps; k++)
                        {
                            writer.Line($"byte* a{k} = {ReferenceEmitter.Address("act_" + Width.Text(row), k * activation.TypeSize)};");
                        }

                        writer.Line($"var ds = {ProductLanes(model.Layout.Find(FieldKind.Scale)!, activation.Find(FieldKind.Scale)!, steps, model)};");
                        if (withMin)
                        {
                            writer.Line($"minAcc_{row} += {ProductLanes(model.Layout.Find(FieldKind.Min)!, activation.Find(FieldKind.Sum)!, steps, null)};");
                        }

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

                        var perChunk = width == Width.V128 ? 2 : 1;
                        for (var f = 0; f < vectors / perChunk; f++)
                        {
                            var sum = string.Join(" + ", products.Skip(f * perChunk).Take(perChunk));
                            var k = width == Width.V512 ? 2 * f : f;
                            var lane = width == Width.V512 ? Lane(width, "ds", k, k + 1) : Lane(width, "ds", k, k);
                            writer.Line($"acc{f % 2}_{row} = Simd.MultiplyAdd({width.Vec}.ConvertToSingle({sum}), {lane}, acc{f % 2}_{row});");
                        }
                    }
                }
            }

            for (var r = 0; r < Rows; r++)
            {
                writer.Line($"float result{r} = {width.Vec}.Sum(acc0_{r} + acc1_{r}){(withMin ? $" + Vector128.Sum(minAcc_{r})" : "")};");
                writer.Line("if (g < chunks)");
                using (writer.Braces())
                {
                    writer.Line($"result{r} += DotScalar((chunks - g) * {Chunk}, weights + g * TypeSize, activations + {Width.Text(r)} * activationStride + g * {Width.Text(activation.TypeSize)});");
                }

                writer.Line($"results[{Width.Text(r)}] = result{r};");
            }
        }

        writer.Line();
    }
}
