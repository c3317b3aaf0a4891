/// Pointwise ops: SiLU, ReLU, products, residual adds, bias add and its gradient, dropout.
public protocol ElementwiseOps {
}
