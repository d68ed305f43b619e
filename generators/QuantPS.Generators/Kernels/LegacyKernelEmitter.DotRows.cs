using System.Collections.Generic;
using System.Linq;
using QuantPS.Generators.Model;

namespace QuantPS.Generators.Kernels;

/// <summary>The legacy family's Dot4: one weight row against four activation rows, each step's weights decoded once.</summary>
internal sealed partial class LegacyKernelEmitter
{
    private const int Rows = 4;

    /// <summary>
    /// Whether the <paramref name="width"/> dots run the 256-bit loop: the codebook types' 512-bit loop, four chunks
    /// a step through two 256-bit lookups joined, lost to the 256-bit one (1 thread, L2 / streamed: IQ4_NL 9.3 / 9.0
    /// against 10.3 / 9.9 GB/s, MXFP4 8.0 / 6.8 against 8.4 / 7.9).
    /// </summary>
    private static bool Runs256BitLoop(KernelModel model, Width width) => width == Width.V512 && model.Scheme == "Codebook";

    // Dot and Dot4 of <paramref name="member"/> as calls of the <paramref name="loop"/> ones (same results).
    private static void EmitForwardingDots(SourceWriter writer, KernelModel model, Width loop, Width member)
    {
        writer
            .Line($"/// <summary>Dot product with {model.Activation!.Name}: the {loop.Bits}-bit loop (see LegacyKernelEmitter.Runs256BitLoop).</summary>")
            .Line($"public static float Dot{member.Suffix}(long count, byte* weights, byte* activations) => Dot{loop.Suffix}(count, weights, activations);")
            .Line()
            .Line($"/// <summary>Four activation rows: the {loop.Bits}-bit Dot4.</summary>")
            .Line($"public static void Dot4{member.Suffix}(long count, byte* weights, byte* activations, long activationStride, float* results) => Dot4{loop.Suffix}(count, weights, activations, activationStride, results);")
            .Line();
    }

    /// <summary>
    /// <see cref="EmitDot"/> against four activation rows: each step's weights are decoded once and multiplied with
    /// every row (its block scales read once), each row with its own accumulators and the single-row loop's exact sequence of operations (so each
    /// result equals Dot's bit for bit). A row's statements sit in their own braces so they reuse Dot's local names.
    /// </summary>
    private static void EmitDotRows(SourceWriter writer, KernelModel model, WeightPlan plan, Width width)
    {
        var activation = model.Activation!;
        var steps = ChunksPerStep(width);
        var withMin = model.Scheme == "ScaledWithMin";
        writer
            .Line($"/// <summary>Dot{width.Suffix} against four activation rows, each step's weights decoded once.</summary>")
            .Line(Hot)
            .Line($"public static void Dot4{width.Suffix}(long count, byte* weights, byte* activations, long activationStride, float* results)");
        using (writer.Braces())
        {
            EmitDotSetup(writer, model, plan, width);
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
                EmitWeightScaleLanes(writer, model, width);
                for (var row = 0; row < Rows; row++)
                {
                    using (writer.Braces())
                    {
                        EmitActivationScales(writer, model, width, "act_" + Width.Text(row), $"minAcc_{row}", weightLanes: true);
                        EmitProducts(writer, model, plan, width, weights, "_" + Width.Text(row));
                    }
                }
            }

            var pair = HasLeftoverPair(model, width);
            if (pair)
            {
                writer.Line("var pair = g + 1 < chunks;").Line("long rest = pair ? g + 2 : g;");
            }

            var rest = pair ? "rest" : "g";
            for (var r = 0; r < Rows; r++)
            {
                var rowActivations = $"activations + {Width.Text(r)} * activationStride";
                writer.Line($"float result{r} = {width.Vec}.Sum(acc0_{r} + acc1_{r}){(withMin ? $" + Vector128.Sum(minAcc_{r})" : "")};");
                if (pair)
                {
                    writer.Line("if (pair)");
                    using (writer.Braces())
                    {
                        writer.Line($"result{r} += {LeftoverPairDot(activation.TypeSize, "(" + rowActivations + ")")};");
                    }
                }

                writer.Line($"if ({rest} < chunks)");
                using (writer.Braces())
                {
                    writer.Line($"result{r} += DotScalar((chunks - {rest}) * {Chunk}, weights + {rest} * TypeSize, {rowActivations} + {rest} * {Width.Text(activation.TypeSize)});");
                }

                writer.Line($"results[{Width.Text(r)}] = result{r};");
            }
        }

        writer.Line();
    }
}
