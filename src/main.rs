fn main() {
    println!("kronjob");
}
