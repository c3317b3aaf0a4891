/// Affine-free layer norm and L2 normalisation.
public protocol NormOps {
}
