using System.Linq;
using QuantPS.Generators.Model;

namespace QuantPS.Generators.Kernels;

/// <summary>How the legacy family's weights enter the integer dot product: signed, unsigned, or biased to unsigned.</summary>
internal sealed partial class LegacyKernelEmitter
{
    /// <summary>How weights enter the integer dot product.</summary>
    private static WeightPlan Plan(KernelModel model)
    {
        var quants = model.Layout.Find(FieldKind.Quants)!;
        if (model.Scheme == "Codebook")
        {
            // A codebook of small range shifts to unsigned (MXFP4: -12..12); IQ4_NL's -127..113 does not fit.
            var min = model.Codebook.Min();
            return model.Codebook.Max() - min <= 127
                ? new WeightPlan(WeightMode.Biased, -min, model.Codebook.Select(value => value - min).ToArray())
                : new WeightPlan(WeightMode.Signed, 0, null);
        }

        if (quants.Signed)
        {
            return new WeightPlan(WeightMode.Signed, 0, null);
        }

        var top = (1 << (quants.Bits + model.Layout.Fields.Where(field => field.Kind == FieldKind.HighBits).Sum(field => field.Bits))) - 1;
        return model.Offset == 0 ? new WeightPlan(WeightMode.Unsigned, 0, null)
            : model.Offset < 0 && top <= 127 ? new WeightPlan(WeightMode.Biased, -model.Offset, null)
            : new WeightPlan(WeightMode.Signed, 0, null);
    }

    private enum WeightMode
    {
        Signed,
        Unsigned,
        Biased,
    }

    private sealed record WeightPlan(WeightMode Mode, int Bias, int[]? BiasedBook);
}
